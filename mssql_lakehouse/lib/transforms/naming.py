"""Column naming between SQL Server (PascalCase) and the lakehouse (snake_case)."""

from __future__ import annotations

import re

from pyspark.sql import DataFrame

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``SalesOrderID`` -> ``sales_order_id``; ``UnitPriceDiscount`` -> ``unit_price_discount``."""
    return _BOUNDARY.sub("_", name).lower()


def to_snake_case(df: DataFrame, renames: dict[str, str] | None = None) -> DataFrame:
    """Rename every column to snake_case, with explicit ``renames`` taking precedence."""
    renames = renames or {}
    return df.toDF(*[renames.get(c, snake_case(c)) for c in df.columns])
