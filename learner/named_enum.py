"""``NamedEnum``: string-valued enums that parse their own values and refuse unknown names.

>>> class Colour(NamedEnum):
...     RED = "red"
>>> Colour.parse("red") is Colour.RED
True
>>> Colour.parse("blue")
Traceback (most recent call last):
...
ValueError: unknown colour 'blue' (known: red)
"""

from __future__ import annotations

import enum
import re
from typing import TypeVar

E = TypeVar("E", bound="NamedEnum")


class NamedEnum(enum.Enum):
    """Members are parsed from themselves or their value; anything else raises
    ``parse_error`` (``ValueError`` unless a subclass names a more specific one)."""

    @classmethod
    def _kind(cls) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()

    @classmethod
    def parse_error(cls, message: str) -> ValueError:
        return ValueError(message)

    @classmethod
    def parse(cls: type[E], value: E | str) -> E:
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in cls)
            raise cls.parse_error(f"unknown {cls._kind()} {value!r} (known: {known})") from None
