"""A failed run that the instance will retry is not requested again by the sensor; its retry decides.

With ``run_retries`` on (dagster.yaml), a failed run gets ``dagster/will_retry``, and the
run-retry daemon re-executes it under a new run id, which it notes on the failed run
(``dagster/auto_retry_run_id``). The daemon's re-execution needs a code location server, so
here the retry is executed in process and noted as the daemon notes it.
"""

import dagster as dg

from mssql_lakehouse.lib.requested_runs import Outcome, outcome

RUN_KEY = "inventory-2026-11-01|amer-abc"


@dg.op
def flaky(context: dg.OpExecutionContext) -> None:
    if context.run.tags.get("dagster/retry_number") != "1":
        raise RuntimeError("source unreachable")


@dg.job
def flaky_job():
    flaky()


@dg.job
def broken_job():
    flaky()


def test_the_instances_retry_decides_how_the_requested_run_ended():
    overrides = {"run_retries": {"enabled": True, "max_retries": 1}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert outcome(instance, RUN_KEY) is Outcome.WAITING  # not launched yet
        failed = flaky_job.execute_in_process(
            instance=instance, tags={"dagster/run_key": RUN_KEY}, raise_on_error=False
        )
        assert not failed.success
        assert instance.get_run_by_id(failed.run_id).tags["dagster/will_retry"] == "true"
        assert outcome(instance, RUN_KEY) is Outcome.WAITING  # the instance retries it: no new request

        retry = flaky_job.execute_in_process(
            instance=instance,
            tags={
                "dagster/run_key": RUN_KEY,
                "dagster/retry_number": "1",
                "dagster/parent_run_id": failed.run_id,
                "dagster/root_run_id": failed.run_id,
            },
            raise_on_error=False,
        )
        instance.add_run_tags(failed.run_id, {"dagster/auto_retry_run_id": retry.run_id})
        assert retry.success
        assert outcome(instance, RUN_KEY) is Outcome.SUCCEEDED


def test_a_run_that_failed_with_no_retry_left_has_failed():
    with dg.instance_for_test() as instance:  # run retries off: the failure is final
        broken_job.execute_in_process(instance=instance, tags={"dagster/run_key": RUN_KEY}, raise_on_error=False)
        assert outcome(instance, RUN_KEY) is Outcome.FAILED
