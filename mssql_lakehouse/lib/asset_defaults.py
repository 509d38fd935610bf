"""What assets of every use case share: the resources a Spark step needs, the ERP's pool, the retry policy."""

import dagster as dg

# Every Spark step needs the session and, on Databricks, the step launcher that runs it on the cluster.
SPARK_RESOURCES = frozenset({"spark", "step_launcher"})

# The ERP's concurrency pool: every extraction from the ERP database, whatever the use case, takes
# a slot, so the ERP sees at most the pool's limit of extractions at once (dagster.yaml sets it).
ERP_POOL = "mssql_erp"

# Extractions are retried on transient source errors (a failover, a dropped connection).
EXTRACTION_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)
