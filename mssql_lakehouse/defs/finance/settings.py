"""The finance close's configuration, read from the environment in one place.

``LAKEHOUSE_ARCHIVE_ROOT`` (default ``$LAKEHOUSE_HOME/archive`` locally), ``LAKEHOUSE_AUDIT_RETENTION_DAYS``
(2555), ``LAKEHOUSE_FINANCE_GRANTS`` (JSON, default ``{"gold": {"finance_readers": ["SELECT"]}}``),
``LAKEHOUSE_FINANCE_REVOKE_FROM`` (comma-separated, default ``account users``) and the catalog
the grant statements name (``LAKEHOUSE_CATALOG``, ``lakehouse`` locally).
"""

from __future__ import annotations

import json
import os
from typing import Any

from mssql_lakehouse.defs.finance.close_history import FinanceArchive
from mssql_lakehouse.defs.finance.grants import DEFAULT_GRANTS, FinanceGrants
from mssql_lakehouse.settings import Deployment, LocalPaths, current_deployment

DEFAULT_RETENTION_DAYS = 2555  # seven years


def archive_root(deployment: Deployment) -> str:
    configured = os.environ.get("LAKEHOUSE_ARCHIVE_ROOT")
    if configured:
        return configured
    if deployment is Deployment.DATABRICKS:
        # A Unity Catalog volume of the same catalog; set LAKEHOUSE_ARCHIVE_ROOT for another storage account.
        return f"/Volumes/{os.environ.get('LAKEHOUSE_CATALOG', 'lakehouse')}/audit/archive"
    return str(LocalPaths.from_env().home / "archive")


def finance_resources(deployment: Deployment | None = None) -> dict[str, Any]:
    """``finance_archive`` and ``finance_grants`` for the deployment (grants are applied on Databricks only)."""
    deployment = deployment or current_deployment()
    grants = json.loads(os.environ.get("LAKEHOUSE_FINANCE_GRANTS") or json.dumps(DEFAULT_GRANTS))
    revoke_from = [p.strip() for p in os.environ.get("LAKEHOUSE_FINANCE_REVOKE_FROM", "account users").split(",") if p.strip()]
    return {
        "finance_archive": FinanceArchive(
            root=archive_root(deployment),
            retention_days=int(os.environ.get("LAKEHOUSE_AUDIT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)),
        ),
        "finance_grants": FinanceGrants(
            catalog=os.environ.get("LAKEHOUSE_CATALOG", "lakehouse"),
            grants=grants,
            revoke_from=revoke_from,
            apply=deployment is Deployment.DATABRICKS,
        ),
    }
