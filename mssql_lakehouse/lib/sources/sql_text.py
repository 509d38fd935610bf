"""SQL text with its values kept apart until the last moment.

A :class:`Sql` is a sequence of SQL fragments and :class:`Param` values. The
same query renders two ways:

* :meth:`Sql.dbapi` - text with ``?`` placeholders plus the values, for control
  queries (pyodbc / duckdb bind them);
* :meth:`Sql.inline` - text with the values written as typed literals by the
  dialect, for the query Spark's JDBC reader sends (``dbtable`` has no
  parameter binding). :meth:`Dialect.literal` refuses ``str`` values, so only
  numbers, times and bytes are ever written into SQL text.

Fragments are never searched or replaced, so a quoted identifier that happens
to contain ``?`` stays intact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from mssql_lakehouse.lib.sources.dialects import Dialect


@dataclass(frozen=True)
class Param:
    value: Any
    as_text: bool = False
    """Inline as a plain quoted ISO string (SQL Server's ``FOR SYSTEM_TIME AS OF`` takes no expression)."""


Part = Union[str, Param, "Sql"]


class Sql:
    def __init__(self, *parts: Part) -> None:
        flat: list[str | Param] = []
        for part in parts:
            if isinstance(part, Sql):
                flat.extend(part.parts)
            elif isinstance(part, (str, Param)):
                flat.append(part)
            else:
                raise TypeError(f"not SQL: {type(part).__name__}")
        self.parts: tuple[str | Param, ...] = tuple(flat)

    def __add__(self, other: Part) -> Sql:
        return Sql(self, other)

    def __radd__(self, other: Part) -> Sql:
        return Sql(other, self)

    @staticmethod
    def join(separator: str, items: Iterable[Part]) -> Sql:
        out: list[Part] = []
        for i, item in enumerate(items):
            if i:
                out.append(separator)
            out.append(item)
        return Sql(*out)

    @property
    def params(self) -> list[Any]:
        return [p.value for p in self.parts if isinstance(p, Param)]

    def dbapi(self) -> tuple[str, list[Any]]:
        text = "".join("?" if isinstance(p, Param) else p for p in self.parts)
        return text, self.params

    def inline(self, dialect: Dialect) -> str:
        return "".join(dialect.inline_param(p) if isinstance(p, Param) else p for p in self.parts)

    def __repr__(self) -> str:
        return f"Sql({self.dbapi()[0]!r})"
