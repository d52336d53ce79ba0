"""The route table: every HTTP route Conduit serves, declared once (method, path, handler, models, who may call).

The Functions routes are registered from it, one function per path that accepts every method and dispatches by
method itself, plus one catch-all under `/api/` that answers unknown paths. That is what makes Conduit answer its own
errors the same way under every host: the real Functions host treats methods as route constraints (a wrong method
is a bare 404 there), devhost would answer otherwise, and here a wrong method is always `405` with `Allow` and the
JSON error shape, an unknown path a JSON `404`, `HEAD` a `GET` without its body, `OPTIONS` a `204` with `Allow`.
A route declared with method `*` (ANY_METHOD) is the only route of its path and receives every method, HEAD and
OPTIONS included: its handler decides per request which methods the addressed resource takes (webhook endpoints,
where each workflow has its own `allowed_methods`). The same table will produce the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel

from shared.api.callers import authenticate, optional_caller
from shared.api.http import answer_error, error_response, read_body, read_query
from shared.errors import MethodNotAllowedError, RouteNotFoundError
from shared.identity import policy
from shared.models import Caller

# public: anyone (the caller, when it sends valid credentials, is known to the handler); caller: any authenticated
# caller; org_admin: a platform admin or an admin of the caller's organization; admin: platform admins only.
Access = Literal["public", "caller", "org_admin", "admin"]
HttpFunction = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ANY_METHOD = "*"
CATCH_ALL_FUNCTION = "route_not_found"


@dataclass
class ApiCall:
    """One request as a handler sees it: decoded, its caller known, its body and query read into their models."""

    request: func.HttpRequest
    caller: Caller | None
    body: Any = None
    query: Any = None

    def path(self, name: str) -> str:
        return self.request.route_params[name]

    @property
    def known_caller(self) -> Caller:
        assert self.caller is not None, "only public routes have no caller"
        return self.caller


Handler = Callable[[ApiCall], Awaitable[func.HttpResponse]]


@dataclass(frozen=True)
class Route:
    """One method on one path. `path` is relative to `/api/`, in the Functions route-template syntax."""

    method: str
    path: str
    handler: Handler
    access: Access = "caller"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200

    @property
    def name(self) -> str:
        return self.handler.__name__

    @property
    def summary(self) -> str:
        return (self.handler.__doc__ or "").strip().split("\n")[0]

    async def answer(self, request: func.HttpRequest) -> func.HttpResponse:
        """Resolve the caller as `access` says, read the body and query, call the handler; errors become JSON."""
        try:
            call = ApiCall(request, await self._caller(request))
            if self.body is not None:
                call.body = read_body(request, self.body)
            if self.query is not None:
                call.query = read_query(request, self.query)
            return await self.handler(call)
        except Exception as error:
            return answer_error(request, error)

    async def _caller(self, request: func.HttpRequest) -> Caller | None:
        if self.access == "public":
            return await optional_caller(request)
        caller = await authenticate(request)
        if self.access == "admin":
            policy.require_platform_admin(caller, f"call {self.method} /api/{self.path}")
        elif self.access == "org_admin":
            policy.require_admin(caller, f"call {self.method} /api/{self.path}")
        return caller


@dataclass
class RouteTable:
    """Routes grouped by path; `blueprint()` turns them into Functions routes."""

    routes: list[Route] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen = set()
        for route in self.routes:
            key = (route.method, route.path)
            if route.method != ANY_METHOD and (route.method not in ALL_METHODS or route.method in ("HEAD", "OPTIONS")):
                raise ValueError(f"{route.name}: declare GET/POST/PUT/PATCH/DELETE; HEAD and OPTIONS are answered")
            if key in seen:
                raise ValueError(f"{route.method} {route.path} is declared twice")
            seen.add(key)
        for path, methods in self.by_path().items():
            if ANY_METHOD in methods and len(methods) > 1:
                raise ValueError(f"{path}: a route for every method ('*') must be the only route of its path")

    def by_path(self) -> dict[str, dict[str, Route]]:
        paths: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            paths.setdefault(route.path, {})[route.method] = route
        return paths

    def blueprint(self) -> func.Blueprint:
        """One anonymous Functions route per path (every method, dispatched here) and the catch-all 404."""
        bp = func.Blueprint()
        for path, methods in self.by_path().items():
            function = dispatcher(methods)
            bp.route(route=path, methods=list(ALL_METHODS), auth_level=func.AuthLevel.ANONYMOUS)(function)
        bp.route(route="{*path}", methods=list(ALL_METHODS), auth_level=func.AuthLevel.ANONYMOUS)(_not_found)
        return bp


def dispatcher(methods: dict[str, Route]) -> HttpFunction:
    """The Functions function for one path: it answers every method, so the host never decides a wrong one."""
    allow = allowed(methods)
    every = methods.get(ANY_METHOD)

    async def dispatch(req: func.HttpRequest) -> func.HttpResponse:
        method = (req.method or "GET").upper()
        if every is not None:
            response = await every.answer(req)
            return without_body(response) if method == "HEAD" else response
        if method == "OPTIONS":
            return func.HttpResponse(status_code=204, headers={"Allow": allow})
        route = methods.get("GET" if method == "HEAD" else method)
        if route is None:
            response = error_response(MethodNotAllowedError(method, req.url, sorted(allow.split(", "))))
            response.headers["Allow"] = allow
            return response
        response = await route.answer(req)
        return without_body(response) if method == "HEAD" else response

    first = next(iter(methods.values()))
    # The Functions host binds arguments by the signature's names and names the function after `__name__`.
    dispatch.__name__ = dispatch.__qualname__ = first.name
    dispatch.__doc__ = first.handler.__doc__
    return dispatch


def allowed(methods: Iterable[str]) -> str:
    names = set(methods)
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names | {"OPTIONS"}))


def without_body(response: func.HttpResponse) -> func.HttpResponse:
    """A HEAD answer: the GET's status and headers, no body (the server sets the length it sends)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return func.HttpResponse(b"", status_code=response.status_code, headers=headers, mimetype=response.mimetype)


async def _not_found(req: func.HttpRequest) -> func.HttpResponse:
    """Any path under /api/ that no route declares: a JSON 404 (after every declared route, which are more specific)."""
    return error_response(RouteNotFoundError((req.method or "GET").upper(), req.url))


_not_found.__name__ = _not_found.__qualname__ = CATCH_ALL_FUNCTION
