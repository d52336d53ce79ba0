"""A small app for devhost's end-to-end tests: routes, queue triggers and a timer that record what they saw.

Queue and timer functions write one JSON file per event into $DEVHOST_TEST_RECORD_DIR, which the tests read back.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record(kind: str, **data: object) -> None:
    folder = Path(os.environ["DEVHOST_TEST_RECORD_DIR"])
    path = folder / f"{kind}-{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "at": time.time(), **data}, default=str))
    tmp.rename(path)  # atomic, so a reader never sees half a file


def _json(data: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


@app.route(route="ping", methods=["GET"])
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.route(route="health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"status": "ok"})


@app.route(route="workflows/executions", methods=["GET"])
async def list_executions(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "list_executions"})


@app.route(route="workflows/{name}", methods=["GET", "DELETE"])
async def get_workflow(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "get_workflow", "name": req.route_params["name"]})


@app.route(route="workflows/{name}/execute", methods=["POST"])
def execute_workflow(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "execute", "name": req.route_params["name"], "input": req.get_json()}, status=201)


@app.route(route="items/{id:int}", methods=["GET"])
async def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "item_by_id", "id": req.route_params["id"]})


@app.route(route="items/{slug:alpha}", methods=["GET"])
async def item_by_slug(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "item_by_slug", "slug": req.route_params["slug"]})


@app.route(route="things/{key:guid}", methods=["GET"])
async def thing(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"key": req.route_params["key"]})


@app.route(route="optional/{value?}", methods=["GET"])
async def optional(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"value": req.route_params.get("value")})


@app.route(route="files/{*path}", methods=["GET"])
async def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"path": req.route_params.get("path")})


@app.route(route="echo", methods=["POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Sync on purpose: it runs in the thread pool."""
    data = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "header": req.headers.get("x-test-header"),
        "body": req.get_body().decode(),
    }
    status = int(req.params.get("status", "200"))
    return func.HttpResponse(
        json.dumps(data), status_code=status, headers={"X-Echo": "yes"}, mimetype="application/json"
    )


@app.route(route="html", methods=["GET"])
async def html(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("<p>hi</p>", mimetype="text/html", charset="iso-8859-1")


@app.route(route="nothing", methods=["POST"])
async def nothing(req: func.HttpRequest) -> None:
    return None


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom on purpose")


@app.route(route="whoami", methods=["GET"])
async def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return _json({"function_name": context.function_name, "invocation_id": context.invocation_id})


@app.route(route="thread", methods=["GET"])
def thread(req: func.HttpRequest) -> func.HttpResponse:
    """Sync: reports the worker thread it ran on."""
    return _json({"thread": threading.current_thread().name})


@app.route(route="settings/{name}", methods=["GET"])
async def setting(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"value": os.environ.get(req.route_params["name"])})


@app.route(route="slow", methods=["GET"])
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    _record("slow-http-start")
    await asyncio.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("slept")


@app.route(route="sleep", methods=["GET"])
def sleep(req: func.HttpRequest) -> func.HttpResponse:
    """Sync: blocks its pool thread, which no timeout can interrupt."""
    time.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("slept")


@app.route(route="page", methods=["GET", "HEAD"])
async def page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hello page", headers={"X-Method": req.method})


@app.route(route="dispatch")
async def dispatch(req: func.HttpRequest) -> func.HttpResponse:
    """Declares every method and answers a wrong one itself, as an app that wants 405 on every host does."""
    if req.method != "GET":
        return func.HttpResponse(
            json.dumps({"error": "method_not_allowed"}),
            status_code=405,
            headers={"Allow": "GET"},
            mimetype="application/json",
        )
    return _json({"handler": "dispatch"})


@app.route(route="numbers/{n:min(1)}", methods=["GET"])
async def positive(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "positive", "n": req.route_params["n"]})


@app.route(route="numbers/{n}", methods=["GET"])
async def any_number(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "any_number", "n": req.route_params["n"]})


@app.route(route="codes/{code:regex(^[a-z]{{3}}-\\d{{2}}$)}", methods=["GET"])
async def code(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "code", "code": req.route_params["code"]})


@app.route(route="names/{name:length(3,8)}/{kind:alpha?}", methods=["GET"])
async def name(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"handler": "name", **req.route_params})


@app.route(route="{*path}")
async def not_found(req: func.HttpRequest) -> func.HttpResponse:
    """Every method, lowest precedence: an app-level JSON 404 for whatever no other route takes."""
    return _json({"handler": "not_found", "path": req.route_params.get("path"), "method": req.method}, status=404)


if os.environ.get("DEVHOST_TEST_EXTRA_ROUTE"):

    @app.route(route=os.environ["DEVHOST_TEST_EXTRA_ROUTE"], methods=["GET"])
    async def extra(req: func.HttpRequest) -> func.HttpResponse:
        return _json({"handler": "extra"})


@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def record_message(msg: func.QueueMessage) -> None:
    _record(
        "work",
        body=msg.get_body().decode(),
        id=msg.id,
        dequeue_count=msg.dequeue_count,
        insertion_time=msg.insertion_time,
        expiration_time=msg.expiration_time,
        time_next_visible=msg.time_next_visible,
        pop_receipt=msg.pop_receipt,
    )


@app.queue_trigger(arg_name="msg", queue_name="%FAIL_QUEUE%", connection="AzureWebJobsStorage")
async def always_fails(msg: func.QueueMessage) -> None:
    _record("fail", body=msg.get_body().decode(), dequeue_count=msg.dequeue_count)
    raise RuntimeError("this function always fails")


@app.queue_trigger(arg_name="msg", queue_name="%SLOW_QUEUE%", connection="AzureWebJobsStorage")
async def slow_message(msg: func.QueueMessage) -> None:
    seconds = float(msg.get_json()["seconds"])
    _record("slow-start", id=msg.id, dequeue_count=msg.dequeue_count)
    await asyncio.sleep(seconds)
    _record("slow-done", id=msg.id, dequeue_count=msg.dequeue_count)


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    _record("tick", past_due=timer.past_due, next=timer.schedule_status.get("Next"))


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    _record("startup", past_due=timer.past_due)
