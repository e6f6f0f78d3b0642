"""A test Function App whose functions burn known amounts of CPU and say how much they burned
(measured with their own thread CPU clock), for tests/devhost/test_cpu_accounting.py."""

import asyncio
import logging
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
Request, Response, Client = func.HttpRequest, func.HttpResponse, df.DurableOrchestrationClient
# What the orchestrator (each replay) and the timer measured of themselves, and the CPU of a
# task an activity leaves running after it returned, go to this logger: a record per measure,
# with `measured` (which) and `seconds` (the test reads them, whichever process ran them).
log = logging.getLogger("cpu_app")
LATE_TASKS: set[asyncio.Task] = set()


def report(what: str, seconds: float) -> None:
    """Log one measurement."""
    log.info("%s burned %.4f s", what, seconds, extra={"measured": what, "seconds": seconds})


def burn(seconds: float) -> float:
    """Spin until this thread has used `seconds` of CPU; the thread CPU it used."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    return time.thread_time() - start


async def burn_in_slices(seconds: float, slices: int) -> dict:
    """Burn `seconds` in `slices` slices, letting the loop run others in between. `own` is
    the CPU of the slices alone; `span` the loop thread's CPU from the first to the last slice,
    which holds whatever ran in between (what a whole-await measure would charge)."""
    own = 0.0
    first = time.thread_time()
    for index in range(slices):
        own += burn(seconds / slices)
        if index < slices - 1:
            await asyncio.sleep(0)
    return {"own": own, "span": time.thread_time() - first}


@app.activity_trigger(input_name="args")
async def burn_async(args: dict) -> dict:
    return await burn_in_slices(args["seconds"], args["slices"])


@app.activity_trigger(input_name="seconds")
def burn_sync(seconds: float) -> dict:
    return {"own": burn(seconds)}


async def late(seconds: float) -> None:
    await asyncio.sleep(0.05)  # still running after the activity returned
    report("late", (await burn_in_slices(seconds, 3))["own"])


@app.activity_trigger(input_name="args")
async def burn_spawned(args: dict) -> dict:
    """Burns in tasks of its own: `gather`'s, and one left running after it returns."""
    task = asyncio.create_task(late(args["late"]))
    LATE_TASKS.add(task)
    task.add_done_callback(LATE_TASKS.discard)
    parts = await asyncio.gather(
        *(burn_in_slices(args["seconds"] / args["tasks"], 3) for _ in range(args["tasks"]))
    )
    return {"own": sum(part["own"] for part in parts)}


@app.orchestration_trigger(context_name="context")
def burner(context: df.DurableOrchestrationContext):
    """Burns in every episode, then runs the three activities: one, then two side by side."""
    args = context.get_input()
    report("burner", burn(args["orchestrator"]))
    first = yield context.call_activity("burn_async", args["async"])
    rest = yield context.task_all(
        [
            context.call_activity("burn_sync", args["sync"]),
            context.call_activity("burn_spawned", args["spawned"]),
        ]
    )
    return {"burn_async": first, "burn_sync": rest[0], "burn_spawned": rest[1]}


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: Request, client: Client) -> Response:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return func.HttpResponse(instance_id, status_code=202)


@app.route(route="burn", methods=["POST"])
async def burn_http(req: Request) -> Response:
    args = req.get_json()
    measured = await burn_in_slices(args["seconds"], args["slices"])
    return func.HttpResponse(str(measured["own"]))


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
async def burn_timer(timer: func.TimerRequest) -> None:
    report("burn_timer", (await burn_in_slices(0.06, 6))["own"])
