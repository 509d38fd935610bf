"""Who may read the finance tables: grants from configuration, rendered as Unity Catalog SQL.

The configuration says, per layer (``"gold"``) or per table (``"gold.financial_close"``),
which principal holds which privileges; a table key wins over its layer. Every principal
named anywhere in it, and every one in ``revoke_from``, holds nothing else on a finance
table: it gets ``REVOKE ALL PRIVILEGES`` where it is not granted. On Databricks the
table's current grants (``SHOW GRANTS``) are compared too, so a grant made by hand to
somebody else is revoked. Locally the statements are only produced and shown (a dry run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIVILEGES = frozenset({"SELECT", "MODIFY", "READ_METADATA", "APPLY TAG", "ALL PRIVILEGES"})
DEFAULT_GRANTS = {"gold": {"finance_readers": ["SELECT"]}}


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier")
    return name


def _principal(name: str) -> str:
    if not name or "\n" in name:
        raise ValueError(f"principal {name!r} is not valid")
    return "`" + name.replace("`", "``") + "`"


def _privilege(name: str) -> str:
    normal = " ".join(name.upper().split())
    if normal not in PRIVILEGES:
        raise ValueError(f"privilege {name!r} is not one of {sorted(PRIVILEGES)}")
    return normal


def table_name(catalog: str, layer: str, table: str) -> str:
    return ".".join(_identifier(p, "name part") for p in (catalog, layer, table))


def plan_grants(
    table: str,
    desired: Mapping[str, Sequence[str]],
    known_principals: Sequence[str],
    current: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """REVOKE then GRANT statements that leave ``table`` with exactly ``desired``.

    ``current`` (principal -> privileges actually held, from ``SHOW GRANTS``) adds revokes for
    privileges and principals beyond the configuration; without it (a local dry run) every
    known principal not granted gets ``REVOKE ALL PRIVILEGES``.
    """
    want = {p: sorted({_privilege(x) for x in privs}) for p, privs in desired.items()}
    have = {p: {_privilege(x) for x in privs} for p, privs in (current or {}).items()}
    revokes: list[str] = []
    grants: list[str] = []
    for principal in sorted(set(known_principals) | set(have) | set(want)):
        quoted = _principal(principal)
        wanted = want.get(principal, [])
        if not wanted:
            if current is None or have.get(principal):
                revokes.append(f"REVOKE ALL PRIVILEGES ON TABLE {table} FROM {quoted}")
            continue
        extra = sorted(have.get(principal, set()) - set(wanted))
        if extra:
            revokes.append(f"REVOKE {', '.join(extra)} ON TABLE {table} FROM {quoted}")
        missing = wanted if current is None else [p for p in wanted if p not in have.get(principal, set())]
        if missing:
            grants.append(f"GRANT {', '.join(missing)} ON TABLE {table} TO {quoted}")
    return revokes + grants


class FinanceGrants(dg.ConfigurableResource):
    """Grants on the finance tables, applied after each write on Databricks, shown locally."""

    catalog: str = Field(default="lakehouse", description="Unity Catalog catalog of the tables.")
    grants: dict[str, dict[str, list[str]]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_GRANTS.items()},
        description=(
            'Layer or "layer.table" -> principal -> privileges, e.g. {"gold": {"finance_readers": ["SELECT"]}}.'
        ),
    )
    revoke_from: list[str] = Field(
        default_factory=lambda: ["account users"],
        description="Principals that hold nothing on finance tables unless granted above.",
    )
    apply: bool = Field(default=False, description="Execute the statements (Databricks); else a dry run.")

    def desired(self, layer: str, table: str) -> dict[str, list[str]]:
        return dict(self.grants.get(f"{layer}.{table}", self.grants.get(layer, {})))

    def known_principals(self) -> list[str]:
        named = {p for per_table in self.grants.values() for p in per_table}
        return sorted(named | set(self.revoke_from))

    def statements(
        self, key: dg.AssetKey | Sequence[str], current: Mapping[str, Sequence[str]] | None = None
    ) -> list[str]:
        path = key.path if isinstance(key, dg.AssetKey) else list(key)
        layer, table = path[-2], path[-1]
        return plan_grants(
            table_name(self.catalog, layer, table), self.desired(layer, table), self.known_principals(), current
        )

    def current_grants(self, spark: SparkSession, key: dg.AssetKey) -> dict[str, list[str]] | None:
        """The table's own grants (Databricks only; None for a dry run or a table not created yet)."""
        if not self.apply:
            return None
        layer, table = key.path[-2], key.path[-1]
        name = table_name(self.catalog, layer, table)
        if not spark.catalog.tableExists(name):
            return None
        held: dict[str, list[str]] = {}
        for row in spark.sql(f"SHOW GRANTS ON TABLE {name}").collect():
            r = row.asDict()
            if str(r.get("ObjectType", "TABLE")).upper() == "TABLE":
                held.setdefault(r["Principal"], []).append(r["ActionType"])
        return held

    def execute(self, spark: SparkSession, statements: Sequence[str], log) -> bool:
        """Run the statements on Databricks; locally log them as a dry run. True when executed."""
        for statement in statements:
            log.info(("Applying: " if self.apply else "Dry run (not applied): ") + statement)
            if self.apply:
                spark.sql(statement)
        return self.apply
