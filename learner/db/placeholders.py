"""``?`` placeholders (the SQL the stores write) to psycopg's ``%s`` style.

String literals and quoted identifiers are copied untouched; a literal ``%`` elsewhere is
doubled, as psycopg requires when parameters are passed.

>>> to_pyformat("SELECT '?%', a FROM t WHERE b = ? AND c LIKE 'x%' AND d % 2 = ?")
"SELECT '?%', a FROM t WHERE b = %s AND c LIKE 'x%' AND d %% 2 = %s"
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
        if quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)
