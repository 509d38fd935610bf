"""How a write finds its own commit among those other writers made after the version it read."""

from deltalake import DeltaTable as IndependentDeltaReader

from mssql_lakehouse.lib.io.delta_tables import DeltaLocation, commit_metadata


def test_a_commit_is_found_however_many_others_committed_after_the_version_read(spark, tmp_path):
    location = DeltaLocation.for_table("bronze", "events", tables_root=str(tmp_path), catalog=None)
    for n in range(11):  # versions 0..10, the write of version n tagged w<n>
        with commit_metadata(spark, {"write_id": f"w{n}"}):
            spark.range(n, n + 1).write.format("delta").mode("append").save(location.path)
    assert IndependentDeltaReader(location.path).version() == 10

    assert [c["version"] for c in location.commits_after(spark, 1)] == list(range(2, 11))
    assert [c["version"] for c in location.commits_after(spark, None)] == list(range(11))
    assert location.commits_after(spark, 10) == []
    # Nine commits after the version read, more than the first history read asks for.
    assert location.commit_tagged(spark, "write_id", "w2", after=1)["version"] == 2
    assert location.commit_tagged(spark, "write_id", "w10", after=1)["version"] == 10
    assert location.commit_tagged(spark, "write_id", "w1", after=1) is None


def test_a_location_without_a_table_has_no_commits(spark, tmp_path):
    location = DeltaLocation.for_table("bronze", "events", tables_root=str(tmp_path), catalog=None)
    assert location.version(spark) is None
    assert location.commits_after(spark, None) == []
