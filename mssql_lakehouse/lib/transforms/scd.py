"""Slowly changing dimensions from change events: type 2 history, and type 1 from its current rows.

The input is a key's change events with their position in commit order
(``commit_lsn``, ``change_position``), ``operation`` (``c``/``u``/``r`` carry the row
after the change, ``d`` deletes) and ``commit_time``. A key's history is a function of
its events alone, so recomputing the history of the keys a batch touched - from all their
events, old and new - gives the same rows whatever order the batches arrive in and however
often one is replayed. Cost grows with the touched keys' events, not with the table.

Rules, per key:

* duplicates (same key and ``change_position``) count once;
* a transaction is atomic: of several changes of one key in one transaction (same
  ``commit_lsn``) only the last is visible, so versions are per transaction;
* every transaction whose last change is not a delete opens a version (a re-insert opens a
  new version even if its values equal an earlier one) - except a snapshot read (``r``) of
  a live row with the values it already has, which changes nothing;
* a version is valid from its transaction's commit time to the next transaction's commit
  time on that key (whatever that transaction did: a delete closes it); the last version is
  current (``valid_to`` null) unless a delete followed it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

HISTORY_COLUMNS = ("valid_from", "valid_to", "is_current", "valid_from_lsn", "valid_to_lsn")
DELETE_FLAG = "is_deleted"


def scd2_history(events: DataFrame, key: str, columns: Sequence[str]) -> DataFrame:
    """Every version of every key in ``events``: ``columns`` plus validity (see the module docstring).

    ``columns`` are the business columns (the key among them). Adds ``valid_from``,
    ``valid_to``, ``is_current``, and the commit LSNs that opened and closed the version
    (``valid_from_lsn`` identifies a version within its key).
    """
    once = events.dropDuplicates([key, "change_position"])
    last_in_transaction = Window.partitionBy(key, "commit_lsn").orderBy(F.col("change_position").desc())
    transactions = once.withColumn("__n", F.row_number().over(last_in_transaction)).where("__n = 1").drop("__n")
    by_commit = Window.partitionBy(key).orderBy("commit_lsn")
    values = [c for c in columns if c != key]
    same_as_before = functools.reduce(
        operator.and_, [F.col(c).eqNullSafe(F.lag(c).over(by_commit)) for c in values], F.lit(True)
    )
    # A snapshot read of a row that is live with the same values changes nothing.
    redundant_read = (
        (F.col("operation") == "r")
        & F.coalesce(F.lag("operation").over(by_commit) != "d", F.lit(False))
        & same_as_before
    )
    transactions = transactions.withColumn("__redundant", redundant_read).where("NOT __redundant").drop("__redundant")
    versions = (
        transactions.withColumn("valid_to", F.lead("commit_time").over(by_commit))
        .withColumn("valid_to_lsn", F.lead("commit_lsn").over(by_commit))
        .where(F.col("operation") != "d")
    )
    return versions.select(
        *[F.col(c) for c in columns],
        F.col("commit_time").alias("valid_from"),
        F.col("valid_to"),
        F.col("valid_to_lsn").isNull().alias("is_current"),
        F.col("commit_lsn").alias("valid_from_lsn"),
        F.col("valid_to_lsn"),
    )


def touched_keys(events: DataFrame, key: str) -> DataFrame:
    return events.select(key).where(F.col(key).isNotNull()).distinct()


def history_of(all_events: DataFrame, keys: DataFrame, key: str, columns: Sequence[str]) -> DataFrame:
    """The whole history of ``keys``, recomputed from every event of theirs in ``all_events``.

    These rows replace the keys' rows in a history table (merged by key and ``valid_from_lsn``,
    replacing by key, ``is_deleted`` as delete flag). A key left without any version - only
    ever deleted, or its one transaction ends in a delete once a late event of it landed - is
    one row with ``is_deleted`` true and nulls, so the merge still removes the versions it had.
    """
    theirs = all_events.join(F.broadcast(keys), key, "left_semi")
    versions = scd2_history(theirs, key, columns).withColumn(DELETE_FLAG, F.lit(False))
    return versions.unionByName(_markers(keys.join(versions.select(key), key, "left_anti"), versions, key))


def _markers(keys: DataFrame, like: DataFrame, key: str) -> DataFrame:
    """A delete marker per key of ``keys`` in ``like``'s columns: the key, nulls, ``is_deleted`` true."""
    values = [c for c in like.columns if c not in (key, DELETE_FLAG)]
    return keys.select(
        key, *[F.lit(None).cast(like.schema[c].dataType).alias(c) for c in values], F.lit(True).alias(DELETE_FLAG)
    )


def scd1_from_history(history: DataFrame, keys: DataFrame, key: str, columns: Sequence[str]) -> DataFrame:
    """Current rows of ``keys`` (``columns`` + ``valid_from``), and a delete marker for each key with none.

    The marker has ``is_deleted`` true and null values; a merge by ``key`` applies it.
    """
    current = history.where("is_current").select(*columns, "valid_from", F.lit(False).alias(DELETE_FLAG))
    return current.unionByName(_markers(keys.join(current.select(key), key, "left_anti"), current, key))


def scd1_differences(customers: DataFrame, history: DataFrame) -> tuple[DataFrame, DataFrame, list[str]]:
    """Where an SCD1 table is not the current rows of its SCD2 history, over the columns both have.

    Returns (SCD1 rows that are not a current version, current versions missing from SCD1, the
    columns compared). Both empty means they agree.
    """
    columns = [c for c in customers.columns if c in history.columns]
    current = history.where("is_current").select(*columns)
    scd1 = customers.select(*columns)
    return scd1.exceptAll(current), current.exceptAll(scd1), columns


def stale_scd1_keys(customers: DataFrame | None, history: DataFrame, key: str) -> DataFrame:
    """Keys whose SCD1 row disagrees with the history's current version (every current key without SCD1)."""
    if customers is None:
        return history.where("is_current").select(key).distinct()
    only_scd1, only_history, _ = scd1_differences(customers, history)
    return only_scd1.select(key).unionByName(only_history.select(key)).distinct()
