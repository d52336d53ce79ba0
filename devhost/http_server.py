"""The HTTP trigger: an aiohttp server that routes requests to HTTP functions and maps their responses back.

One catch-all aiohttp handler does the routing with `devhost.routing` (aiohttp's own router cannot express the
host's precedence and constraints). A request no route matches — by path or by method — is a bare 404, as in the
host, where methods are route constraints. The request becomes a `func.HttpRequest`; the function's
`func.HttpResponse` becomes the reply, with the Content-Type the worker would set. None means 204, an exception (or a
functionTimeout) 500 — both as in the host. A HEAD request reaches only a function that lists HEAD; its response
keeps the headers (Content-Length of the body the function returned) and sends no body, as Kestrel does. A response
slower than Azure's front-end limit (230 s) is logged as a warning: on Azure the caller would not have received it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devhost.invoker import Invoker
from devhost.loader import FunctionSpec, LoadError
from devhost.routing import Router, RouteTemplateError, make_route
from devhost.settings import SettingsError
from devhost.timeouts import FunctionTimeoutError

log = logging.getLogger("devhost.http")
MAX_BODY_BYTES = 104_857_600  # the host's request body limit (100 MB)
FRONT_END_TIMEOUT_SECONDS = 230.0  # Azure's front end (load balancer) ends an HTTP request after 230 s
FRONT_END_TIMEOUT_ENV = "DEVHOST_FRONT_END_TIMEOUT_SECONDS"


def build_router(specs: Iterable[FunctionSpec], route_prefix: str) -> Router[FunctionSpec]:
    """A route per HTTP function: `<routePrefix>/<route>`, methods from the trigger (none listed = all).

    A route devhost cannot host faithfully (an unknown constraint, a complex segment) stops the start-up with a
    LoadError naming the function: an app that starts must route on devhost as it would on Azure."""
    router: Router[FunctionSpec] = Router()
    mapped = []
    for spec in specs:
        route = str(spec.trigger.get("route") or spec.name)
        template = "/".join(part for part in (route_prefix, route.strip("/")) if part)
        try:
            router.add(make_route(template, spec.trigger.get("methods") or (), spec))
        except RouteTemplateError as exc:
            raise LoadError(f"Function '{spec.name}' has the route '{route}', which devhost refuses: {exc}.") from exc
        mapped.append((spec, template))
    for spec, template in mapped:
        log.info("Mapped function '%s' to %s [%s]", spec.name, template, ",".join(spec.trigger.get("methods") or ["*"]))
    return router


def front_end_timeout(environ: os._Environ[str] | dict[str, str] = os.environ) -> float:
    """Seconds after which devhost warns that Azure's front end would have ended the request (a setting for tests)."""
    raw = environ.get(FRONT_END_TIMEOUT_ENV, "").strip()
    if not raw:
        return FRONT_END_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise SettingsError(f"{FRONT_END_TIMEOUT_ENV} must be a positive number of seconds, not '{raw}'.")
    return seconds


def to_http_request(request: web.Request, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    """The worker's HttpRequest: repeated headers and query keys are joined with ',' as ASP.NET Core does.

    The peer's address is appended to X-Forwarded-For, as Azure's front end does: a function never sees the TCP
    peer, so that header is where Conduit finds the client's address on Azure and here alike."""
    headers = {key: ",".join(request.headers.getall(key)) for key in request.headers.keys()}  # noqa: SIM118
    forwarded = next((key for key in headers if key.lower() == "x-forwarded-for"), "X-Forwarded-For")
    if request.remote:
        headers[forwarded] = ", ".join(part for part in (headers.get(forwarded), request.remote) if part)
    params = {key: ",".join(request.query.getall(key)) for key in request.query.keys()}  # noqa: SIM118
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    """Map a function's return value the way the worker's HttpResponseConverter and the host do."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(text=result, content_type="text/plain", charset="utf-8")
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse, str or None, not {type(result).__name__}")
    # HttpResponse.headers is a werkzeug Headers: (name, value) pairs, repeated names (Set-Cookie) kept.
    headers: CIMultiDict[str] = CIMultiDict(result.headers.items())
    headers.popall("Content-Length", None)
    if "Content-Type" not in headers:
        mimetype = result.mimetype
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=int(result.status_code), body=result.get_body() or b"", headers=headers)


class HttpServer:
    """Serves the HTTP functions until `stop`, which stops accepting and lets running requests finish."""

    def __init__(self, router: Router[FunctionSpec], invoker: Invoker, *, access_log: bool) -> None:
        self._router = router
        self._invoker = invoker
        self._front_end_timeout = front_end_timeout()
        self._app = web.Application(client_max_size=MAX_BODY_BYTES, handler_args={"tcp_keepalive": True})
        self._app.router.add_route("*", "/{tail:.*}", self._handle)
        self._access_log = access_log
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int, grace_seconds: float) -> None:
        self._runner = web.AppRunner(
            self._app,
            handle_signals=False,
            access_log=logging.getLogger("devhost.access") if self._access_log else None,
            shutdown_timeout=grace_seconds,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("Listening on http://%s:%d", "localhost" if host in ("127.0.0.1", "0.0.0.0") else host, port)

    async def stop(self) -> None:
        """Close the listening socket and idle connections, then wait (up to the grace period) for handlers."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = self._router.lookup(request.method, request.rel_url.raw_path)
        if match is None:
            return web.Response(status=404)
        spec = match.route.target
        http_request = to_http_request(request, await request.read(), match.values)
        warning = asyncio.get_running_loop().call_later(self._front_end_timeout, self._warn_front_end, request, spec)
        try:
            result = await self._invoker.invoke(
                spec, http_request, "This function was programmatically called via the host APIs.", quiet=True
            )
            return to_web_response(result)
        except FunctionTimeoutError as exc:
            log.error("Exception while executing function: Functions.%s. %s", spec.name, exc)
            return web.Response(status=500)
        except Exception:
            log.exception("Exception while executing function: Functions.%s", spec.name)
            return web.Response(status=500)
        finally:
            warning.cancel()

    def _warn_front_end(self, request: web.Request, spec: FunctionSpec) -> None:
        log.warning(
            "%s %s (Functions.%s) has not answered within %.0fs. On Azure the front end ends the request here: the "
            "caller gets an error (502 or 500) while the function runs on. devhost keeps waiting; answer sooner "
            "(e.g. 202 and a status URL).",
            request.method,
            request.rel_url.path,
            spec.name,
            self._front_end_timeout,
        )
