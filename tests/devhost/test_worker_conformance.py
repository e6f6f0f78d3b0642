"""The devhost refuses exactly what Azure's Python worker refuses, with the worker's reason.

Each case is a small Function App built from the worker's rules (loader.index_function_app,
functions.Registry.add_indexed_function, the binding converters), not from our app. For every
case the devhost's verdict must equal the real worker's (tests/oracle); an app both accept must
also run on the devhost, its activity receiving the value the worker would hand it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devhost.functions import FunctionIndex, index_app, load_app
from tests.conftest import devhost_url
from tests.oracle import Verdict, real_worker_verdict

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """\
import typing
from typing import Any, Dict, List, Optional, TypedDict

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
"""

# An orchestration that hands {"a": 1} to the activity `echo` and answers with what it saw.
RUN_ECHO = """

@app.orchestration_trigger(context_name="context")
def echo_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("echo", {"a": 1}))


@app.route(route="run")
@app.durable_client_input(client_name="client")
async def run(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new("echo_orchestrator")
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=30000
    )
"""


def activity(annotation: str) -> str:
    """An activity `echo` whose parameter carries `annotation`, plus the orchestration to run it."""
    parameter = f"job: {annotation}" if annotation else "job"
    return (
        f"""

@app.activity_trigger(input_name="job")
def echo({parameter}):
    return {{"type": type(job).__name__, "value": job}}
"""
        + RUN_ECHO
    )


REQUEST = "req: func.HttpRequest"


def http(parameters: str, returns: str = "func.HttpResponse", body: str = "") -> str:
    """An HTTP function `wrong` with these parameters and return annotation."""
    return f"""
@app.route(route="wrong")
def wrong({parameters}) -> {returns}:
    return {body or 'func.HttpResponse("never")'}
"""


def timer(annotation: str = "func.TimerRequest", retry_interval: str = "") -> str:
    """An hourly timer function whose parameter carries `annotation`, retried if asked."""
    retry = (
        '@app.retry(strategy="fixed_delay", max_retry_count="3", '
        f'delay_interval="{retry_interval}")\n'
        if retry_interval
        else ""
    )
    return f"""
{retry}@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
def hourly(timer: {annotation}) -> None:
    pass
"""


@dataclass(frozen=True)
class Case:
    """One small Function App and whether the worker accepts it."""

    name: str
    source: str
    accepted: bool
    prelude: bool = True


CASES = [
    # Activity parameters: PEP 585 generics are refused, typing's generics and plain types pass.
    Case("activity_pep585_dict", activity("dict[str, Any]"), accepted=False),
    Case("activity_pep585_list", activity("list[int]"), accepted=False),
    Case("activity_union_pipe", activity("dict | None"), accepted=False),
    Case("activity_typing_optional", activity("Optional[dict]"), accepted=False),
    Case("activity_typing_tuple", activity("typing.Tuple[int, int]"), accepted=False),
    Case("activity_non_type_literal", activity("'not a type'"), accepted=False),
    Case("activity_plain_dict", activity("dict"), accepted=True),
    Case("activity_typing_dict", activity("Dict[str, Any]"), accepted=True),
    Case("activity_typing_list", activity("List[int]"), accepted=True),
    Case("activity_any", activity("Any"), accepted=True),
    Case("activity_unannotated", activity(""), accepted=True),
    Case(
        "activity_typed_dict",
        "\n\nclass Job(TypedDict):\n    a: int\n" + activity("Job"),
        accepted=True,
    ),
    # Annotations that do not match their binding.
    Case("http_request_as_int", http("req: int"), accepted=False),
    Case("http_return_int", http(REQUEST, "int", "1"), accepted=False),
    Case("http_return_pep585", http(REQUEST, "dict[str, str]", "{}"), accepted=False),
    Case("http_return_out", http(REQUEST, "func.Out[str]", "None"), accepted=False),
    Case("http_request_as_out", http("req: func.Out[str]"), accepted=False),
    Case("timer_as_http_request", timer("func.HttpRequest"), accepted=False),
    # azure-functions-durable presents the client parameter to the worker as `str`, whatever
    # the function's own annotation says.
    Case(
        "durable_client_as_dict",
        """
@app.route(route="client")
@app.durable_client_input(client_name="client")
def client_json(req: func.HttpRequest, client: dict) -> func.HttpResponse:
    return func.HttpResponse(type(client).__name__)
""",
        accepted=True,
    ),
    Case("timer_request", timer(), accepted=True),
    # Parameters against bindings, and the `context` parameter.
    Case("parameter_without_binding", http(f"{REQUEST}, extra: str"), accepted=False),
    Case("context_not_a_context", http(f"{REQUEST}, context: str"), accepted=False),
    Case(
        "context_declared",
        """
@app.route(route="context")
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(context.function_name)
""",
        accepted=True,
    ),
    Case(
        "annotation_that_cannot_be_resolved",
        """
from __future__ import annotations

import azure.functions as func

if False:
    from somewhere import Missing

app = func.FunctionApp()


@app.route(route="ping")
def ping(req: func.HttpRequest, ) -> Missing:
    return func.HttpResponse("pong")
""",
        accepted=False,
        prelude=False,
    ),
    # The app object and the function names.
    Case(
        "duplicate_function_names",
        """
@app.route(route="one")
def twice(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("one")


@app.function_name("twice")
@app.route(route="two")
def second(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("two")
""",
        accepted=False,
    ),
    Case("two_apps", "\nother_app = func.FunctionApp()\n", accepted=False),
    Case("app_alias", "\napplication = app\n", accepted=False),
    Case(
        "app_with_another_name",
        """
import azure.functions as func

functions = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@functions.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
""",
        accepted=True,
        prelude=False,
    ),
    Case("no_app", "import azure.functions as func\n", accepted=False, prelude=False),
    Case("retry_interval_not_hms", timer(retry_interval="10s"), accepted=False),
    Case("retry_interval_hms", timer(retry_interval="00:00:10"), accepted=True),
    Case(
        "import_error",
        "import azure.functions as func\nimport a_module_nobody_installed\n",
        accepted=False,
        prelude=False,
    ),
]


def write_app(case: Case, root: Path) -> Path:
    """The case's function_app.py (and a host.json) in a folder of its own."""
    app_dir = root / case.name
    app_dir.mkdir()
    source = (PRELUDE if case.prelude else "") + textwrap.dedent(case.source)
    (app_dir / "function_app.py").write_text(source, encoding="utf-8")
    (app_dir / "host.json").write_text(json.dumps({"version": "2.0"}), encoding="utf-8")
    return app_dir


@dataclass
class Outcome:
    """What the real worker and the devhost made of one case."""

    verdict: Verdict
    devhost_started: bool
    devhost_exit: int | None
    devhost_output: str
    responses: dict[str, httpx.Response]


def run_case(case: Case, root: Path) -> Outcome:
    """Index the case with the real worker, then start it on the devhost and call it."""
    app_dir = write_app(case, root)
    verdict = real_worker_verdict(app_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--script-root", str(app_dir), "--port", "0"]
        + ["--no-azurite", "--no-agents", "--no-pubsub", "--no-timers"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The cases are about indexing and invocation, not persistence: Durable in memory.
        env={**os.environ, "PYTHONPATH": str(REPO), "DEVHOST_DURABLE_STORE": "memory"},
    )
    output: list[str] = []
    base_url = devhost_url(process.stdout, output)
    responses = {}
    try:
        if base_url:
            with httpx.Client(base_url=base_url, timeout=60) as http:
                responses["ping"] = http.get("/api/ping")
                if "def echo(" in case.source:
                    responses["run"] = http.get("/api/run")
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        output.append(process.stdout.read())
    return Outcome(verdict, base_url is not None, process.returncode, "".join(output), responses)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once, several at a time (each is two short-lived processes)."""
    root = tmp_path_factory.mktemp("worker-conformance")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case.name: pool.submit(run_case, case, root) for case in CASES}
        return {name: future.result() for name, future in futures.items()}


def worker_reason(message: str) -> str:
    """The worker's reason without the troubleshooting text it appends to import errors."""
    return message.split(". Cannot find module.", 1)[0]


# The first case also runs `outcomes`: every case's devhost, each with its worker processes
# when FUNCTIONS_WORKER_PROCESS_COUNT asks for them (about a minute here with 2).
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_devhost_agrees_with_the_real_worker(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.name]
    verdict = outcome.verdict
    assert verdict.accepted == case.accepted, verdict.message
    if not verdict.accepted:
        assert not outcome.devhost_started, "the devhost started an app the worker refuses"
        assert outcome.devhost_exit not in (0, None)
        assert worker_reason(verdict.message) in outcome.devhost_output
        return
    assert outcome.devhost_started, outcome.devhost_output
    functions = int(verdict.message.split(" ", 1)[0])
    assert f"{functions} function(s) indexed" in outcome.devhost_output
    assert outcome.responses["ping"].text == "pong"
    if "run" in outcome.responses:
        assert outcome.responses["run"].json() == {"type": "dict", "value": {"a": 1}}


def trigger_summary(index: FunctionIndex) -> str:
    """The devhost's index in the words of tests/oracle's verdict: `N functions: k type, ...`."""
    kinds = Counter(info.trigger_type for info in index.by_name.values())
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"{len(index.by_name)} functions: {counts}"


def test_the_real_worker_indexes_our_app_as_the_devhost_lists_it(app_env) -> None:
    values = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
    app_env(**values)
    verdict = real_worker_verdict(REPO, values)
    assert verdict.accepted, verdict.message
    assert verdict.message == trigger_summary(index_app(load_app(REPO)))
