"""The concurrency pools whose steps must never overlap, across runs: one step at a time.

Dagster keeps a pool's limit on the instance, not in code: ``dagster.yaml`` sets only the default
limit of every other pool. ``mssql-lakehouse pools`` limits these on the instance ``DAGSTER_HOME``
points at; ``make setup`` runs it, and so must every instance the lakehouse is deployed to.
"""

import dagster as dg

CUSTOMER_360_HISTORY = "customer_360_history"
FINANCE_CLOSE = "finance_close"
DR_REPLICATION = "dr_replication"
SALES_GOLD = "sales_gold"

SERIAL_POOLS = {
    CUSTOMER_360_HISTORY: "two runs rewriting overlapping customers at once could each miss the other's bronze rows",
    FINANCE_CLOSE: "a close reads the period's close number, then writes the next one",
    DR_REPLICATION: "two passes into the same replica would race on its log",
    SALES_GOLD: "a gold step reads silver when it starts; one that started before another run's silver merge "
    "must not commit after that run's gold step, or the day keeps the older figures",
}


def limit_serial_pools(instance: dg.DagsterInstance) -> None:
    """Set every serial pool's limit to one step on ``instance``."""
    for pool in SERIAL_POOLS:
        instance.event_log_storage.set_concurrency_slots(pool, 1)
