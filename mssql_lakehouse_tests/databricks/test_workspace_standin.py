"""The stand-in itself: the SDK's DBFS calls round-trip, and what it does not implement is refused and recorded."""

import io
import os
import secrets

import pytest
from dagster_databricks.databricks import DatabricksClient
from databricks.sdk.errors import NotFound

from mssql_lakehouse_tests.databricks.workspace_standin import WorkspaceStandIn

pytestmark = pytest.mark.databricks_standin

TOKEN = "dapi" + secrets.token_hex(16)  # made up per run


@pytest.fixture
def standin(tmp_path):
    with WorkspaceStandIn(tmp_path, token=TOKEN) as standin:
        yield standin


def test_a_file_larger_than_one_block_round_trips_through_dbfs(standin):
    client = DatabricksClient(host=standin.url, token=TOKEN)
    payload = os.urandom(2 * 1024 * 1024 + 17)

    client.put_file(io.BytesIO(payload), "dbfs:///staging/run/step/code.zip", overwrite=True)

    assert client.read_file("dbfs:///staging/run/step/code.zip") == payload
    assert (standin.dbfs_root / "staging" / "run" / "step" / "code.zip").read_bytes() == payload
    assert [r["path"] for r in standin.requests].count("/api/2.0/dbfs/add-block") == 3


def test_a_missing_file_is_reported_the_way_the_launcher_expects(standin):
    client = DatabricksClient(host=standin.url, token=TOKEN)
    with pytest.raises(NotFound) as raised:
        client.read_file("dbfs:///staging/run/step/0_events.pkl")
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_an_endpoint_the_stand_in_does_not_implement_is_refused_and_recorded(standin):
    client = DatabricksClient(host=standin.url, token=TOKEN)
    with pytest.raises(NotFound, match=r"stand-in does not implement GET /api/2.1/clusters/list"):
        list(client.workspace_client.clusters.list())
    assert standin.unknown_requests == ["GET /api/2.1/clusters/list"]


def test_a_wrong_token_is_refused(standin):
    client = DatabricksClient(host=standin.url, token="dapi" + secrets.token_hex(16))
    with pytest.raises(Exception, match="Invalid access token"):
        client.read_file("dbfs:///anything")
