"""What a write may do to an existing Delta table's schema.

Additive evolution (new columns) is allowed unless an asset opts out; any change
of an existing column's type is refused before anything is written, with an
error that names each column, so a bad deploy cannot half-rewrite a table.
"""

from __future__ import annotations

import enum

from pyspark.sql import types as T


class SchemaEvolution(str, enum.Enum):
    ADDITIVE = "additive"
    NONE = "none"


class IncompatibleSchemaError(ValueError):
    """The data to write does not fit the existing table; nothing was written."""


def _without_nullability(data_type: T.DataType) -> str:
    # Nullability differences are not type changes: Delta writes nullable columns.
    return data_type.simpleString()


def check_compatible(
    table_name: str,
    existing: T.StructType,
    incoming: T.StructType,
    evolution: SchemaEvolution,
) -> list[str]:
    """Raise if ``incoming`` cannot be written to a table of schema ``existing``.

    Returns the names of the columns the write adds.
    """
    existing_types = {f.name.lower(): f for f in existing.fields}
    changed = []
    added = []
    for field in incoming.fields:
        current = existing_types.get(field.name.lower())
        if current is None:
            added.append(field.name)
        elif _without_nullability(current.dataType) != _without_nullability(field.dataType):
            changed.append(f"{field.name}: {current.dataType.simpleString()} -> {field.dataType.simpleString()}")
    if changed:
        raise IncompatibleSchemaError(
            f"Refusing to write {table_name}: incompatible type change in column(s) "
            + "; ".join(changed)
            + ". Nothing was written. Cast the column back to its current type, or rebuild the"
            " table with a full refresh if the change is intended."
        )
    if added and evolution is SchemaEvolution.NONE:
        raise IncompatibleSchemaError(
            f"Refusing to write {table_name}: new column(s) {', '.join(added)} but the asset"
            " does not allow schema evolution (metadata schema_evolution='none'). Nothing was written."
        )
    return added
