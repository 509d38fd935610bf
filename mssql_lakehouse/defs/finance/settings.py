"""The finance close's resources, built from the settings' finance section.

The archive root defaults to ``$LAKEHOUSE_HOME/archive`` locally and to a Unity Catalog volume of
the catalog on Databricks; grants are applied on Databricks only.
"""

from __future__ import annotations

from typing import Any

from mssql_lakehouse.defs.finance.close_history import FinanceArchive
from mssql_lakehouse.defs.finance.grants import FinanceGrants
from mssql_lakehouse.settings import Deployment, LakehouseSettings


def archive_root(settings: LakehouseSettings) -> str:
    if settings.finance.archive_root:
        return settings.finance.archive_root
    if settings.deployment is Deployment.DATABRICKS:
        # A Unity Catalog volume of the same catalog; set LAKEHOUSE_ARCHIVE_ROOT for another storage account.
        return f"/Volumes/{settings.paths.catalog or 'lakehouse'}/audit/archive"
    return str(settings.paths.home / "archive")


def finance_resources(settings: LakehouseSettings) -> dict[str, Any]:
    """``finance_archive`` and ``finance_grants`` for the deployment."""
    return {
        "finance_archive": FinanceArchive(root=archive_root(settings), retention_days=settings.finance.retention_days),
        "finance_grants": FinanceGrants(
            catalog=settings.paths.catalog or "lakehouse",
            grants={layer: dict(grants) for layer, grants in settings.finance.grants.items()},
            revoke_from=list(settings.finance.revoke_from),
            apply=settings.deployment is Deployment.DATABRICKS,
        ),
    }
