"""The bronze row-count check warns about a day whose volume is off, not about a backfill before it.

Order headers are read by modification time, from the ERP as it is when the run reads it: an
order modified again later sits in its last day only. A day landed the night after it ended
holds every order modified that day; a day read later by a backfill holds only those not
modified since. Compared with backfilled days, every nightly day looked 2-5 times too big.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from mssql_lakehouse.defs.sales.bronze import HEADER_KEY
from mssql_lakehouse_demo import db
from mssql_lakehouse_demo.schema import erp_path
from mssql_lakehouse_tests.sales.conftest import FIRST_DAY, Lakehouse

order_headers = dg.define_asset_job("order_headers", selection=dg.AssetSelection.assets(HEADER_KEY))
JOBS = [order_headers]
DAYS = [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(6)]


def row_count_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "row_count_anomaly"]
    return check


def nightly(lh: Lakehouse, day: str) -> dg.AssetCheckEvaluation:
    """The night after ``day``: the ERP holds the day, and the run reads it."""
    lh.seed(1, start=dt.date.fromisoformat(day))
    return row_count_check(lh.run(day, job=order_headers.name))


def test_the_first_nights_after_a_backfill_raise_no_false_warning(make_lakehouse):
    lh = make_lakehouse("after_a_backfill")
    lh.seed(5)
    # Onboarding: the days so far in one run, as the ERP is now; then the nightly runs.
    lh.run(DAYS[0], DAYS[4], job=order_headers.name)

    check = nightly(lh, DAYS[5])
    assert check.passed, check.metadata


def test_nightly_days_are_compared_and_a_day_missing_most_orders_is_flagged(make_lakehouse):
    lh = make_lakehouse("nightly")
    for day in DAYS[:4]:
        nightly(lh, day)
    check = nightly(lh, DAYS[4])
    assert check.passed and check.metadata["trailing_partitions"].value == 4, check.metadata

    # The ERP lost most of a day's orders (a failed import upstream): the count is a fraction of the usual.
    lh.seed(1, start=dt.date.fromisoformat(DAYS[5]))
    with db.connect(erp_path(lh.demo_dir)) as con:
        con.execute(
            'DELETE FROM "Sales"."SalesOrderHeader" WHERE CAST("ModifiedDate" AS DATE) = ? AND "SalesOrderID" % 5 <> 0',
            [dt.date.fromisoformat(DAYS[5])],
        )
    check = row_count_check(lh.run(DAYS[5], job=order_headers.name))
    assert not check.passed and check.metadata["ratio_to_median"].value < 0.5, check.metadata
