"""``?`` placeholders (the SQL the stores write) to psycopg's ``%s`` style.

A ``?`` inside a string literal or quoted identifier stays as it is. Every ``%`` is doubled,
inside literals too: psycopg reads ``%`` wherever it occurs once parameters are passed.

>>> to_pyformat("SELECT '?%', a FROM t WHERE b = ? AND c LIKE 'x%' AND d % 2 = ?")
"SELECT '?%%', a FROM t WHERE b = %s AND c LIKE 'x%%' AND d %% 2 = %s"
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["to_pyformat"]


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``sql`` with each ``?`` outside quotes replaced by ``%s`` and each ``%`` doubled."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        else:
            out.append("%s" if char == "?" else char)
    return "".join(out)
