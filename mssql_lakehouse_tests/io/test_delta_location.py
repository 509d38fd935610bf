"""How a write finds its own commit among those other writers made after the table state it read."""

from deltalake import DeltaTable as IndependentDeltaReader

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, commit_metadata


def _append_tagged(spark, location, n):
    with commit_metadata(spark, {"write_id": f"w{n}"}):
        spark.range(n, n + 1).write.format("delta").mode("append").save(location.path)


def test_a_commit_is_found_however_many_others_committed_after_the_state_read(spark, tmp_path):
    location = DeltaLocation.for_table("bronze", "events", tables_root=str(tmp_path), catalog=None)
    for n in range(2):  # versions 0 and 1, the write of version n tagged w<n>
        _append_tagged(spark, location, n)
    state = location.state(spark)
    for n in range(2, 11):
        _append_tagged(spark, location, n)
    assert IndependentDeltaReader(location.path).version() == 10

    # The commit the state read, then every later one.
    assert [c["version"] for c in location.commits_since(spark, state.last_commit_at)] == list(range(1, 11))
    assert [c["version"] for c in location.commits_since(spark, None)] == list(range(11))
    # Nine commits after the state read, more than the first history read asks for.
    assert location.commit_tagged(spark, "write_id", "w2", state.last_commit_at)[0]["version"] == 2
    assert location.commit_tagged(spark, "write_id", "w10", state.last_commit_at)[0]["version"] == 10
    # A write that committed nothing: no commit of its own since, and the table's latest version.
    assert location.commit_tagged(spark, "write_id", "w0", state.last_commit_at) == (None, 10)
    assert location.commit_tagged(spark, "write_id", "none", None) == (None, 10)


def test_a_location_without_a_table_has_no_state_and_no_commits(spark, tmp_path):
    location = DeltaLocation.for_table("bronze", "events", tables_root=str(tmp_path), catalog=None)
    assert location.state(spark) is None
    assert location.commits_since(spark, None) == []
    assert location.commit_tagged(spark, "write_id", "w0", None) == (None, None)
