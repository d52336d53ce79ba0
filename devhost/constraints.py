"""ASP.NET Core's inline route constraints (`{id:int}`, `{n:min(1)}`, `{s:regex(^a)}`), which the host applies.

Each constraint is built once, when the route is parsed, from its name and argument text: a bad argument or a name
devhost does not implement is a start-up error (`ConstraintError`), never a constraint that silently matches
everything. Names are case-insensitive, as in ASP.NET's constraint map. The checks follow ASP.NET's own: numbers are
parsed with the invariant culture (`int` is a 32-bit integer, with an optional sign), lengths count UTF-16 code
units as .NET strings do, and `regex` is an unanchored, case-insensitive search (anchor it with `^...$`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

Check = Callable[[str], bool]

# .NET's NumberStyles.AllowLeadingWhite/AllowTrailingWhite set, which int/long/min/max/range parse with.
_WHITE = " \t\n\v\f\r"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)")
_FLOAT = re.compile(r"[+-]?(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FLOAT_WORDS = {"nan", "infinity", "+infinity", "-infinity", "∞", "+∞", "-∞"}
_GUID_D = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID = re.compile(rf"[0-9a-f]{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\)", re.IGNORECASE)
_ALPHA = re.compile(r"[A-Za-z]*")
_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
DECIMAL_MAX = Decimal("79228162514264337593543950335")
# ASP.NET Core constraints devhost leaves out: refused by name, so the message can say they exist.
NOT_IMPLEMENTED = ("file", "nonfile")


class ConstraintError(ValueError):
    """A route constraint devhost cannot apply: unknown, not implemented, or with a bad argument."""


def integer(value: str, bits: int) -> int | None:
    """int.TryParse / long.TryParse with NumberStyles.Integer: optional whitespace and sign, decimal digits."""
    text = value.strip(_WHITE)
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else None


def _is_decimal(value: str) -> bool:
    text = value.strip(_WHITE)
    if not _DECIMAL.fullmatch(text):
        return False
    try:
        return abs(Decimal(text.replace(",", ""))) <= DECIMAL_MAX
    except InvalidOperation:
        return False


def _is_float(value: str) -> bool:
    text = value.strip(_WHITE)
    return _FLOAT.fullmatch(text) is not None or text.lower() in _FLOAT_WORDS


def _is_datetime(value: str) -> bool:
    """DateTime.TryParse (invariant culture) accepts many forms; devhost takes ISO 8601 and MM/dd/yyyy[ HH:mm[:ss]]."""
    try:
        datetime.fromisoformat(value.strip())
        return True
    except ValueError:
        pass
    for layout in _DATE_FORMATS:
        try:
            datetime.strptime(value.strip(), layout)
            return True
        except ValueError:
            continue
    return False


def utf16_length(value: str) -> int:
    """The length .NET reports for a string: UTF-16 code units (a character outside the BMP counts twice)."""
    return len(value.encode("utf-16-le")) // 2


SIMPLE: dict[str, Check] = {
    "int": lambda v: integer(v, 32) is not None,
    "long": lambda v: integer(v, 64) is not None,
    "bool": lambda v: v.strip(_WHITE).lower() in ("true", "false"),
    "guid": lambda v: _GUID.fullmatch(v.strip(_WHITE)) is not None,
    "alpha": lambda v: _ALPHA.fullmatch(v) is not None,
    "decimal": _is_decimal,
    "double": _is_float,
    "float": _is_float,
    "datetime": _is_datetime,
    "required": lambda v: v != "",
}
WITH_ARGUMENTS = ("min", "max", "range", "length", "minlength", "maxlength", "regex")
IMPLEMENTED = tuple(sorted((*SIMPLE, *WITH_ARGUMENTS)))


def build(name: str, argument: str | None) -> Check:
    """The check for `name` or `name(argument)`; raises ConstraintError for anything devhost cannot apply."""
    key = name.strip().lower()
    if key in SIMPLE:
        if argument is not None:
            raise ConstraintError(f"the route constraint '{name}' takes no argument, not '({argument})'")
        return SIMPLE[key]
    if key in WITH_ARGUMENTS:
        if argument is None:
            raise ConstraintError(f"the route constraint '{name}' needs an argument, e.g. '{key}(...)'")
        return _regex(argument) if key == "regex" else _bounded(key, _numbers(name, argument))
    if key in NOT_IMPLEMENTED:
        raise ConstraintError(f"devhost does not implement the route constraint '{name}' (it knows: {_known()})")
    raise ConstraintError(f"'{name}' is not an ASP.NET Core route constraint (known: {_known()})")


def _known() -> str:
    return ", ".join(IMPLEMENTED)


def _numbers(name: str, argument: str) -> list[int]:
    """Comma-separated integer arguments, trimmed as ASP.NET's constraint resolver trims them."""
    numbers = [integer(part.strip(), 64) for part in argument.split(",")]
    if any(number is None for number in numbers):
        raise ConstraintError(f"the route constraint '{name}({argument})' needs integer arguments")
    return [number for number in numbers if number is not None]


_ARITY = {"min": (1,), "max": (1,), "range": (2,), "minlength": (1,), "maxlength": (1,), "length": (1, 2)}


def _bounded(key: str, numbers: list[int]) -> Check:
    """min/max/range compare the value as a long; length/minlength/maxlength compare its length."""
    if len(numbers) not in _ARITY[key]:
        counts = " or ".join(str(n) for n in _ARITY[key])
        raise ConstraintError(f"the route constraint '{key}' takes {counts} argument(s), not {len(numbers)}")
    first, last = numbers[0], numbers[-1]
    if first > last:
        raise ConstraintError(f"the route constraint '{key}({first},{last})' has its minimum above its maximum")
    if key.endswith("length") and first < 0:
        raise ConstraintError(f"the route constraint '{key}' needs lengths of 0 or more")
    low = None if key in ("max", "maxlength") else first
    high = None if key in ("min", "minlength") else last
    if key.endswith("length"):
        return lambda v: _within(utf16_length(v), low, high)
    return lambda v: (n := integer(v, 64)) is not None and _within(n, low, high)


def _within(number: int, low: int | None, high: int | None) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def _regex(pattern: str) -> Check:
    """RegexRouteConstraint: IsMatch (a search, not a full match), case-insensitive, culture-invariant."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        message = f"the route constraint 'regex({pattern})' is not a regular expression devhost can compile: {exc}"
        raise ConstraintError(message) from exc
    return lambda v: compiled.search(v) is not None
