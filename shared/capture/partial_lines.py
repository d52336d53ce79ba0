"""Printed text as log lines: one line per newline, each line bounded, `\\r` honoured, in time linear in the text.

A partial line is kept as a list of chunks and only the new text is searched for line breaks, so a progress bar or
a `print(..., end="")` loop costs each write its own length, not the length of the line so far.
"""

from __future__ import annotations

import re

# Per line, as storage cuts it (shared.storage.packing.MAX_LOG_MESSAGE_UNITS), with the same marker.
MAX_LINE_CHARS = 262_144
LINE_TRUNCATION = "… [truncated: {n} more characters; the limit is {limit} characters per log line]"
_MARKER_ROOM = 128  # kept text + marker stay within MAX_LINE_CHARS, so storage does not cut again
_KEPT_CHARS = MAX_LINE_CHARS - _MARKER_ROOM
_BREAKS = re.compile(r"[\r\n]")
_COMPACT_AT = 512  # partial-line chunks joined into one past this many, so a line's list stays short


def _marker(cut: int) -> str:
    return LINE_TRUNCATION.format(n=cut, limit=MAX_LINE_CHARS)


def cut_line(message: str) -> str:
    """`message` within MAX_LINE_CHARS, its end replaced by a marker saying how much was cut."""
    if len(message) <= MAX_LINE_CHARS:
        return message
    return message[:_KEPT_CHARS] + _marker(len(message) - _KEPT_CHARS)


class PartialLine:
    """Printed text waiting for its newline, kept as chunks so that each write costs its own length only.

    `\\r` returns to the start of the line: the next text replaces what the line held, so a progress bar that
    redraws itself with `\\r` is stored once, in its latest state (`\\r\\n` still ends a line as is). Past
    MAX_LINE_CHARS, text is counted, not kept, and the line ends with the truncation marker.
    """

    __slots__ = ("_carriage", "_chunks", "_cut", "_length")

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._length = 0
        self._cut = 0
        self._carriage = False

    def feed(self, text: str) -> list[str]:
        """Take `text`; return the lines it completed."""
        done: list[str] = []
        position = 0
        for match in _BREAKS.finditer(text):
            self._append(text[position : match.start()])
            if match.group() == "\n":
                done.append(self.take())
            else:
                self._carriage = True
            position = match.end()
        self._append(text[position:])
        return done

    def take(self) -> str:
        """The line so far (with a marker if it was cut); the buffer starts over."""
        line = "".join(self._chunks) + (_marker(self._cut) if self._cut else "")
        self._chunks, self._length, self._cut, self._carriage = [], 0, 0, False
        return line

    def __bool__(self) -> bool:
        return bool(self._length or self._cut)

    def _append(self, piece: str) -> None:
        if not piece:
            return
        if self._carriage:
            self._chunks, self._length, self._cut, self._carriage = [], 0, 0, False
        room = _KEPT_CHARS - self._length
        if len(piece) > room:
            self._cut += len(piece) - max(room, 0)
            piece = piece[: max(room, 0)]
            if not piece:
                return
        self._chunks.append(piece)
        self._length += len(piece)
        if len(self._chunks) >= _COMPACT_AT:
            self._chunks = ["".join(self._chunks)]

