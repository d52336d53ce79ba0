"""`shared.runtime.execute_workflow` keeps the execution-service contract on the process's own runtime (the one the
HTTP functions use): the backend decides where the run happens, and the HTTP path keeps its own errors."""

import pytest

from shared.runtime import execute_workflow
from tests.http.conftest import Api


async def test_the_runtime_runs_locally_or_queues_as_the_backend_says(api: Api, run_queue) -> None:
    # Given an async-declared workflow of the app's workspace
    # When code runs it with backend="local", and once more with backend="queue"
    ran = await execute_workflow(workflow_name="echo_async", input_data={"payload": 1}, backend="local",
                                 trigger_payload={"kind": "schedule"})
    waiting = await execute_workflow(workflow_name="echo_async", input_data={"payload": 2}, backend="queue")
    # Then the first has run by the time its id is returned, and the second waits in the queue
    _, first = await api.execution(ran)
    _, second = await api.execution(waiting)
    assert (first["status"], first["output_data"], first["trigger"]["kind"]) == ("Success", {"payload": 1}, "schedule")
    assert second["status"] == "Pending"
    # And the queue worker runs the queued one
    await run_queue()
    _, second = await api.execution(waiting)
    assert (second["status"], second["output_data"]) == ("Success", {"payload": 2})


async def test_the_runtime_raises_value_errors_where_http_answers_404_and_422(api: Api) -> None:
    with pytest.raises(ValueError, match="No workflow named 'absent'"):
        await execute_workflow(workflow_name="absent", backend="local")
    with pytest.raises(ValueError, match="cannot be combined with wait=True"):
        await execute_workflow(workflow_name="echo_async", input_data={"payload": 1}, backend="queue", wait=True)
    # While the HTTP route answers with Conduit's own errors, as before
    status, body = await api.execute("absent")
    assert status == 404 and body["error"]["code"] == "workflow_not_found"


async def test_a_run_started_by_code_without_a_caller_is_recorded_as_the_system(api: Api, run_queue) -> None:
    # Given code (a schedule, a DAG step) that runs a workflow without naming a user, locally and through the queue
    ran = await execute_workflow(workflow_name="echo_async", input_data={"payload": 3}, backend="local")
    queued = await execute_workflow(workflow_name="echo_async", input_data={"payload": 4}, backend="queue")
    await run_queue()
    # Then both records name the system as their caller (kind "system", no key), not the bootstrap admin key
    for execution_id in (ran, queued):
        _, record = await api.execution(execution_id)
        assert record["status"] == "Success"
        assert record["caller"] == {"user_id": "system", "email": None, "name": "Conduit", "is_platform_admin": True,
                                    "kind": "system"}, record["caller"]
