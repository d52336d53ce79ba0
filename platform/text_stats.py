"""Text statistics: a plain (non-async) workflow; Conduit runs it in a worker thread."""

import re
from collections import Counter

from shared import param, workflow


@workflow(
    name="text_stats",
    description="Count words, lines and the most common words of a text.",
    category="Examples",
    execution_mode="sync",
    timeout_seconds=60,
)
@param("text", type="string", required=True)
@param("top", type="int", default_value=5, help_text="How many of the most common words to return")
def text_stats(text: str, top: int = 5) -> dict:
    words = re.findall(r"[\w']+", text.lower())
    print(f"counted {len(words)} words")
    return {
        "characters": len(text),
        "lines": text.count("\n") + 1 if text else 0,
        "words": len(words),
        "most_common": [{"word": w, "count": c} for w, c in Counter(words).most_common(max(top, 0))],
    }
