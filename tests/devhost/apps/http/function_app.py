"""A test Function App for the devhost's HTTP hosting: routing, requests, responses, timers."""

import json
import logging
import os
import time

import azure.functions as func

from api._http import read_json
from bindings import http_endpoint, json_response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
# Each timer run logs a record to this logger, with `tick`: the time, or -1.0 for `nightly`.
ticks = logging.getLogger("http_app.ticks")


def echo_body(req: func.HttpRequest) -> dict:
    return {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-test"),
        "body": req.get_body().decode(),
    }


@app.route(route="items/{id:int}", methods=["GET"])
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(echo_body(req)), mimetype="application/json")


@app.route(route="items/special", methods=["GET"])
def special_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("special")


@app.route(route="items", methods=["POST", "PUT"])
async def post_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(echo_body(req)),
        status_code=201,
        headers={"Location": "/api/items/7", "X-Custom": "yes"},
        mimetype="application/json",
    )


@app.route(route="greet/{name?}", methods=["GET"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params.get('name', 'nobody')}")


@app.route(route="files/{*rest}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", ""))


@app.route(route="crash", methods=["GET"])
def crash(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret-detail-that-must-not-leak")


@app.route(route="env", methods=["GET"])
def env(req: func.HttpRequest) -> func.HttpResponse:
    names = req.params.get("names", "").split(",")
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}))


@app.route(route="json", methods=["POST"])
@http_endpoint
async def json_echo(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"received": read_json(req)})


@app.timer_trigger(schedule="* * * * * *", arg_name="timer", run_on_startup=False)
def every_second(timer: func.TimerRequest) -> None:
    ticks.info("tick", extra={"tick": time.time()})


@app.timer_trigger(schedule="%NIGHTLY_SCHEDULE%", arg_name="timer")
def nightly(timer: func.TimerRequest) -> None:
    ticks.info("tick", extra={"tick": -1.0})
