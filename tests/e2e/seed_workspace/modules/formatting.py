"""Text helpers shared by every folder of the workspace."""


def plural(count, word):
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def bullet_list(lines):
    return "\n".join(f"- {line}" for line in lines)
