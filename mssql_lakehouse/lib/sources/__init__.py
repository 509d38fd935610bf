"""The SQL Server source layer: what assets use to read a source database into Spark.

* :class:`MssqlSource` (``resource.py``) - the Dagster resource, one per database;
* :class:`TableSource`, :class:`ExtractionMode` (``spec.py``) - how a table is read;
* :class:`Extraction` (``extract.py``) - the result: DataFrame, positions, figures;
* errors (``errors.py``), with :class:`PositionExpiredError` for an expired CDC/CT position;
* :func:`frame_figures` (``reconcile.py``) - reconciliation figures of a DataFrame;
* the dialect layer (``dialects.py``) - the only place SQL Server and the demo differ;
* the type mapping (``type_mapping.py``) - SQL Server type -> Spark/Delta type.
"""

from mssql_lakehouse.lib.sources.errors import (
    CdcPositionExpiredError,
    ChangeTrackingVersionExpiredError,
    ChangeWindowNotClosedError,
    InvalidIdentifierError,
    PositionExpiredError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    TableNotFoundError,
    UnsupportedTypeError,
)
from mssql_lakehouse.lib.sources.extract import (
    CDC_COMMIT_TIME,
    CDC_OPERATION,
    CDC_ORDER,
    CDC_SEQVAL,
    CDC_START_LSN,
    CDC_UPDATE_MASK,
    CT_OPERATION,
    CT_VERSION,
    Extraction,
)
from mssql_lakehouse.lib.sources.reconcile import ReconciliationFigures, frame_figures
from mssql_lakehouse.lib.sources.resource import MssqlSource
from mssql_lakehouse.lib.sources.spec import ExtractionMode, TableSource

__all__ = [
    "CDC_COMMIT_TIME",
    "CDC_OPERATION",
    "CDC_ORDER",
    "CDC_SEQVAL",
    "CDC_START_LSN",
    "CDC_UPDATE_MASK",
    "CT_OPERATION",
    "CT_VERSION",
    "CdcPositionExpiredError",
    "ChangeTrackingVersionExpiredError",
    "ChangeWindowNotClosedError",
    "Extraction",
    "ExtractionMode",
    "InvalidIdentifierError",
    "MssqlSource",
    "PositionExpiredError",
    "ReconciliationFigures",
    "SourceConfigError",
    "SourceConnectionError",
    "SourceError",
    "TableNotFoundError",
    "TableSource",
    "UnsupportedTypeError",
    "frame_figures",
]
