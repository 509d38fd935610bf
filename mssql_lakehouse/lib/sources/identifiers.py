"""Validation and quoting of schema, table and column names.

Names come from configuration (``TableSource``) or from the source's own
catalog, never from a user at run time; still, every name that reaches SQL text
goes through :func:`validate_identifier` and then a dialect's quoting.

The rule, and why:

* not empty, and at most 128 characters: SQL Server's ``sysname`` limit, so a
  name we accept is one SQL Server could have;
* no control characters (C0, DEL, C1, and the Unicode line and paragraph
  separators): they are never part of a real name, and they are what can
  break a log line, a quoted identifier in a driver's tokenizer or a Spark plan
  string;
* everything else is allowed - spaces, quotes, brackets, semicolons, Unicode -
  because SQL Server allows them in delimited identifiers; quoting makes them
  harmless: SQL Server ``[name]`` with ``]`` doubled, the demo (DuckDB, ANSI)
  ``"name"`` with ``"`` doubled.

Values never go through here: they are bound parameters (control queries) or
typed literals rendered by the dialect (the Spark JDBC read, which cannot bind).
"""

from __future__ import annotations

import unicodedata

from mssql_lakehouse.lib.sources.errors import InvalidIdentifierError

MAX_IDENTIFIER_LENGTH = 128

_EXTRA_FORBIDDEN = {"\u2028", "\u2029", "\ufeff"}


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is an acceptable SQL Server name, else raise ``InvalidIdentifierError``."""
    if not isinstance(name, str):
        raise InvalidIdentifierError(f"{what} must be a string, got {type(name).__name__}")
    if name == "" or name.strip() == "":
        raise InvalidIdentifierError(f"{what} is empty or blank")
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifierError(
            f"{what} {name[:40]!r}... is {len(name)} characters; SQL Server names are at most {MAX_IDENTIFIER_LENGTH}"
        )
    for ch in name:
        if unicodedata.category(ch) == "Cc" or ch in _EXTRA_FORBIDDEN:
            raise InvalidIdentifierError(
                f"{what} {name!r} contains the control character U+{ord(ch):04X}; "
                "names with control characters are refused"
            )
    return name


def quote_bracket(name: str) -> str:
    """SQL Server delimited identifier: ``[name]`` with ``]`` doubled."""
    return "[" + validate_identifier(name).replace("]", "]]") + "]"


def quote_double(name: str) -> str:
    """ANSI delimited identifier (DuckDB): ``"name"`` with ``"`` doubled."""
    return '"' + validate_identifier(name).replace('"', '""') + '"'
