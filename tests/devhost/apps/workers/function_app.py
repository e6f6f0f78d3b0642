"""A test Function App for the devhost's worker processes (FUNCTIONS_WORKER_PROCESS_COUNT)."""

import asyncio
import base64
import json
import logging
import os
import signal
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("workers_app")
# Module-level state: each worker process imports the app, so each has its own count.
CALLS = {"count": 0}


def as_json(value: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status, mimetype="application/json")


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest) -> func.HttpResponse:
    CALLS["count"] += 1
    return as_json({"pid": os.getpid(), "count": CALLS["count"]})


@app.route(route="echo/{name}/{rest?}", methods=["GET", "POST", "PUT"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    return func.HttpResponse(
        json.dumps(
            {
                "method": req.method,
                "url": req.url,
                "headers": dict(req.headers),
                "params": dict(req.params),
                "route": dict(req.route_params),
                "body": base64.b64encode(body).decode(),
            }
        ),
        headers={"X-Echo-Length": str(len(body))},
        mimetype="application/json",
    )


@app.route(route="bytes", methods=["POST"])
def reverse_bytes(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body()[::-1], mimetype="application/octet-stream")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("kaput in the worker")


@app.route(route="log", methods=["GET"])
def log_line(req: func.HttpRequest) -> func.HttpResponse:
    log.warning("turn %s done", "t-7", extra={"turn_id": "t-7", "attempts": 3})
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("with a traceback")
    return as_json({"pid": os.getpid()})


@app.route(route="burn", methods=["GET"])
def burn_http(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"pid": os.getpid(), "seconds": burn(float(req.params["seconds"]))})


@app.route(route="hang", methods=["GET"])
async def hang(req: func.HttpRequest) -> func.HttpResponse:
    # Tell the test which process runs this invocation, then wait for it to be killed.
    Path(req.params["pidfile"]).write_text(str(os.getpid()))
    await asyncio.sleep(3600)
    return as_json({"pid": os.getpid()})


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return as_json({"id": instance_id}, 202)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    results = yield context.task_all(
        [context.call_activity("burn_activity", seconds) for _ in range(4)]
    )
    return results


@app.orchestration_trigger(context_name="context")
def killed_activity(context: df.DurableOrchestrationContext):
    yield context.call_activity("die", "now")
    return "unreachable"


@app.activity_trigger(input_name="seconds")
def burn_activity(seconds: float) -> dict:
    return {"pid": os.getpid(), "seconds": burn(seconds)}


@app.activity_trigger(input_name="why")
def die(why: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def burn(seconds: float) -> float:
    """Spend `seconds` of this thread's CPU time; the CPU time spent."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    return time.thread_time() - start
