"""Seeding the demo ERP: deterministic, idempotent, day by day, in vectorised DuckDB SQL.

``seed(demo_dir, start, days, scale)`` creates the demo folder or extends it. Every
pseudo-random choice is ``hash(<salt>, <day>, <row key>)`` scaled to [0, 1) (duckdb is
pinned, so ``hash`` is stable), every generated key comes from a total order, and a day
depends only on the scale, the regions and the state the previous days left. So the same
arguments on a fresh folder give the same bytes of content, and seeding days 1-2 and then
day 3 gives what seeding days 1-3 at once gives. Each database file records the days it
holds in ``demo.seeded_days``; a day already there is skipped, so a re-run changes
nothing, and each day of each file is one transaction, so an interrupted seed resumes.

Volumes at scale 1 (scale multiplies them; the minimums keep tiny scales meaningful):
about 25,000 orders and 100,000 order lines a day (1-7 lines, 4 on average), 2% more
late orders dated 1-3 days back, 1,000 products (min 50), 20,000 customers (min 200),
60 GL accounts, 500 journals (about 2,000 GL entries) a day, 3 inventory locations per
region.

What one simulated day D does, in the ERP:

* inserts D's orders and late orders (each order is one transaction; ``ModifiedDate``
  is the transaction's time inside D, with microsecond fractions; ``SalesOrderID`` and
  ``SalesOrderDetailID`` follow the insert time, like IDENTITY columns);
* injects bad detail rows into them: negative ``OrderQty``, NULL ``ProductID`` and a
  ``ProductID`` of 990000 or more, which is not in ``Production.Product`` (each at least
  once a day, 0.05% of lines each at scale 1);
* touches orders of the 30 days before D (one action per order and day): ships them in
  batch transactions (Status 1 → 2 → 5, sometimes via 3, ShipDate = D), cancels a few
  (Status 6), amends some (changes OrderQty of some lines, deletes others, recomputes the
  header, RevisionNumber + 1) and deletes a few whole orders with their lines; every
  change sets ``ModifiedDate`` and bumps ``RowVer``;
* inserts, updates and deletes customers, and deletes and re-inserts at least one customer
  with identical values in one transaction (two CDC rows, no net change);
* writes every change of those three tables to CDC (and the two Sales tables to Change
  Tracking), see :mod:`mssql_lakehouse_demo.cdc`;
* posts D's journals to ``Finance.GLEntry``; each balances, except one a day (by at least
  0.01) and one a day with a line on ``AccountID`` 9999, which is not in ``GLAccount``;
* revises 5% of the open forecasts and adds the forecasts of D + 6 for every live product
  (on the first day D .. D + 6), around each SKU's expected daily demand;
* changes a few product prices late in the evening (after the day's orders used them).

In each region's inventory: changes about a quarter of the ``Production.ProductInventory``
quantities, each at a time inside D, keeping the closed versions in
``Production.ProductInventoryHistory`` as a system-versioned temporal table does.

``RowVer`` is ``day_ordinal << 40 | transaction << 16 | change``, so it grows with commit
order like SQL Server's database-wide rowversion counter (its values are sparser).

The clock. The demo server runs in the business day's zone (``LAKEHOUSE_ERP_TIMEZONE``,
recorded in ``demo.settings`` as ``time_zone``; a folder is extended in its own zone only), as
SQL Server's ``SYSDATETIME()`` does: ``ModifiedDate``, ``cdc.lsn_time_mapping`` and
``ct.versions`` hold wall-clock times of that zone. A time "inside D" is a moment of D's real
length (23 or 25 hours on a DST change) shown on that wall clock, so no value falls in the hour
a spring-forward skips and the repeated hour of a fall-back is used twice; transactions are
numbered in wall-clock order, so commit times never go back as LSNs grow. The temporal tables'
period columns are in UTC, as SQL Server keeps them.

Where each part lives: :mod:`.seeding` (``seed``, the day's order, what a folder holds),
:mod:`.common` (volumes, pseudo-random draws, the clock, running SQL), :mod:`.customers`,
:mod:`.sales_orders`, :mod:`.products_and_forecasts`, :mod:`.finance`, :mod:`.inventory` (one
module per simulated area), and :mod:`.change_capture` (a day's changes written to CDC and
Change Tracking in commit order).
"""

from mssql_lakehouse_demo.generator.common import GENERATOR_VERSION, SeedError, Volumes
from mssql_lakehouse_demo.generator.finance import update_gl_entry
from mssql_lakehouse_demo.generator.seeding import (
    SeedResult,
    content_hashes,
    demo_settings,
    recorded_time_zone,
    seed,
    seeded_days,
    table_counts,
)

__all__ = [
    "GENERATOR_VERSION",
    "SeedError",
    "SeedResult",
    "Volumes",
    "content_hashes",
    "demo_settings",
    "recorded_time_zone",
    "seed",
    "seeded_days",
    "table_counts",
    "update_gl_entry",
]
