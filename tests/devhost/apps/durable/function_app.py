"""A test Function App exercising every Durable feature the devhost emulates."""

import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
# The client functions' types, by short names (the same objects the worker checks against).
Request, Response, Client = func.HttpRequest, func.HttpResponse, df.DurableOrchestrationClient
# flaky's runs per key are counted in files, not in the module: with worker processes
# (FUNCTIONS_WORKER_PROCESS_COUNT) each process has its own module, and a retry may land in
# another one. One folder per task hub (tests/devhost/test_activity_faults.py reads it).
ATTEMPTS = Path(tempfile.gettempdir()) / "devhost-test-attempts"
SPANS: list[dict] = []


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"hello {name}"


@app.activity_trigger(input_name="seconds")
def sleep_sync(seconds: float) -> dict:
    start = time.time()
    time.sleep(seconds)
    span = {"start": start, "end": time.time()}
    SPANS.append(span)
    return span


@app.activity_trigger(input_name="seconds")
async def sleep_async(seconds: float) -> dict:
    import asyncio

    start = time.time()
    await asyncio.sleep(seconds)
    return {"start": start, "end": time.time()}


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempt = count_attempt(key)
    failures = int(key.split(":")[1])
    if attempt <= failures:
        raise ValueError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


def count_attempt(key: str) -> int:
    """Add one run of `key` (a byte appended to its file); the runs so far."""
    folder = ATTEMPTS / os.environ.get("TASKHUB_NAME", "no-hub")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / key, "ab") as runs:
        runs.write(b".")
        return runs.tell()


@app.activity_trigger(input_name="message")
def boom(message: str) -> None:
    raise RuntimeError(message)


@app.orchestration_trigger(context_name="context")
def once(context: df.DurableOrchestrationContext):
    """One activity call, without retry: what it returns is what was delivered."""
    result = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    args = context.get_input()
    activity = "sleep_async" if args["async"] else "sleep_sync"
    results = yield context.task_all(
        [context.call_activity(activity, args["seconds"]) for _ in range(3)]
    )
    return results


@app.orchestration_trigger(context_name="context")
def mixed(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    results = yield context.task_all(
        [
            context.call_activity("hello", "a"),
            context.call_activity_with_retry("flaky", retry, context.get_input()),
            context.call_activity("hello", "c"),
        ]
    )
    context.set_custom_status("fanned-out")
    after = yield context.call_activity("hello", "d")
    return results + [after]


@app.orchestration_trigger(context_name="context")
def slow_retry(context: df.DurableOrchestrationContext):
    """A retried activity with a 1 s pause between attempts (long enough to stop the host in)."""
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
    first = yield context.call_activity_with_retry("flaky", retry, context.get_input())
    second = yield context.call_activity("hello", "after")
    return [first, second]


@app.activity_trigger(input_name="size")
def big(size: int) -> str:
    return "x" * size


@app.orchestration_trigger(context_name="context")
def large(context: df.DurableOrchestrationContext):
    """Activity inputs and results larger than a Table property or entity."""
    text = yield context.call_activity("big", context.get_input())
    echoed = yield context.call_activity("hello", text)
    return len(echoed)


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    """`task_any` between an activity (or an external event) and a durable timer."""
    args = context.get_input()
    if args["racer"] == "event":
        racer = context.wait_for_external_event("approval")
    else:
        racer = context.call_activity("sleep_sync", args["seconds"])
    deadline = context.create_timer(
        context.current_utc_datetime + timedelta(seconds=args["timeout"])
    )
    winner = yield context.task_any([racer, deadline])
    if winner == deadline:
        return {"winner": "timer"}
    deadline.cancel()
    return {"winner": args["racer"], "result": winner.result}


@app.orchestration_trigger(context_name="context")
def early_event(context: df.DurableOrchestrationContext):
    """Waits for an event only after an activity, so the event can arrive first."""
    yield context.call_activity("sleep_sync", context.get_input())
    value = yield context.wait_for_external_event("go")
    return {"event": value}


@app.orchestration_trigger(context_name="context")
def catches(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", "kaput")
    except Exception as exc:  # the orchestrator sees the activity's failure as an exception
        return {"caught": str(exc).splitlines()[0]}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def unhandled(context: df.DurableOrchestrationContext):
    yield context.call_activity("boom", "not caught")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("child", "x")
    named = yield context.call_sub_orchestrator(
        "child", "y", instance_id=f"{context.instance_id}-named"
    )
    return [child, named]


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("hello", context.get_input())
    return greeting.upper()


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    count = context.get_input()
    yield context.call_activity("hello", str(count))
    if count < 3:
        context.continue_as_new(count + 1)
        return None
    return count


FLIP = {"value": 0}


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    FLIP["value"] += 1
    name = "hello" if FLIP["value"] == 1 else "sleep_sync"  # changes between replays
    yield context.call_activity(name, "x")
    yield context.call_activity("hello", "y")
    return "done"


@app.orchestration_trigger(context_name="context")
def status_then_wait(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    value = yield context.wait_for_external_event("go")
    return value


def body_of(req: func.HttpRequest):
    return json.loads(req.get_body() or b"null")


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: Request, client: Client) -> Response:
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("id"), body_of(req)
    )
    return func.HttpResponse(instance_id, status_code=202)


@app.route(route="instances/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: Request, client: Client) -> Response:
    found = await client.get_status(req.route_params["instance_id"], show_history=True)
    if not found:
        return func.HttpResponse("{}", status_code=404, mimetype="application/json")
    body = {
        "runtimeStatus": found.runtime_status.value,
        "output": found.output,
        "customStatus": found.custom_status,
        "history": found.historyEvents,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="instances/{instance_id}/events/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def raise_event(req: Request, client: Client) -> Response:
    await client.raise_event(
        req.route_params["instance_id"], req.route_params["event"], body_of(req)
    )
    return func.HttpResponse(status_code=202)


@app.route(route="instances/{instance_id}/terminate", methods=["POST"])
@app.durable_client_input(client_name="client")
async def terminate(req: Request, client: Client) -> Response:
    await client.terminate(req.route_params["instance_id"], "stopped by test")
    return func.HttpResponse(status_code=202)


@app.route(route="wait/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_and_wait(req: Request, client: Client) -> Response:
    instance_id = await client.start_new(req.route_params["name"], None, body_of(req))
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, 5000, 100
    )


@app.route(route="instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def list_instances(req: Request, client: Client) -> Response:
    statuses = await client.get_status_all()
    return func.HttpResponse(
        json.dumps(sorted(s.instance_id for s in statuses)), mimetype="application/json"
    )


@app.route(route="running-instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def running_instances(req: Request, client: Client) -> Response:
    statuses = await client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Running])
    body = {s.instance_id: {"name": s.name, "customStatus": s.custom_status} for s in statuses}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="instances/{instance_id}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge(req: Request, client: Client) -> Response:
    result = await client.purge_instance_history(req.route_params["instance_id"])
    return func.HttpResponse(str(result.instances_deleted))
