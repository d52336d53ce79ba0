"""Running a DAG: ready nodes run concurrently, decided edges make successors ready or skipped, every node is a step.

The executor is generic: what a node does is its handler's `run` (shared.dag.nodes), given a `NodeRun` — the node's
view of the run (its rendered config's variables, its predecessors' outputs, a way to run a loop body, the run's HTTP
client). The rules (the design's, see the README's "DAG workflows"):

- Entry: the `trigger` node if there is one, else every node without incoming edges.
- A finished node decides its outgoing edges: on success its `on: success` edges (a gateway's only when their label
  is one it chose), on failure its `on: error` edges; a failure with no error edge fails the run, cancelling the
  nodes in flight. A node runs once all its incoming edges are decided and one was taken (a `join` in mode `any`: as
  soon as one is taken); a node none of whose edges was taken is skipped, and so are its own edges, so joins never
  wait for a branch that will not run.
- The run's result: the `output` template, else the output of the one non-skipped sink, else {sink: output}.

Each node's step is recorded when it ends and, for a stored execution, written before its successors start (one
request; `StepRecorder.persist`). Those steps are the run's journal: a run that continues (a takeover after a crash,
a wake-up after waiting, a `from_failed` rerun) reuses every completed node's recorded output instead of running it
again — inside loops per iteration — so side effects before the crash are not repeated (see "Durable executions"
in the README: a step stored cut or with a secret masked cannot be reused, and that node runs again). A node with
a `retry` policy runs again after a failure that policy retries, each attempt a step (`node_attempt`); a long backoff,
a `delay` and a `wait_for_event` pause the run (`Parked`) once nothing else can go on, and it is stored Waiting.

Concurrency: CONDUIT_DAG_MAX_CONCURRENCY nodes of one run at once (default 32),
across nested loops; a loop node holds no slot while its body runs, so nested loops cannot starve their own bodies.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from shared.capture.log_capture import current_step
from shared.dag import templates
from shared.dag.definition import DagDefinition, DagEdge, DagGraph, DagNode
from shared.dag.nodes import Branch, GraphParked, NodeHandler, NodeParked, handler_for
from shared.engine.context import ExecutionContext
from shared.engine.deadline import grace_seconds
from shared.engine.durable import ExecutionSuspended, awaited_events, is_due, park_after_seconds, waiting_of, when
from shared.functions.retry_policy import RetryPolicy, parse_retry_policy
from shared.models import iso
from shared.serialization import json_safe
from shared.storage.retrying import retrying

STEP_TYPE = "dag_node"
CONCURRENCY_SETTING = "CONDUIT_DAG_MAX_CONCURRENCY"
DEFAULT_CONCURRENCY = 32
STEP_WRITE_SECONDS = 10.0  # how long a node's step write is retried while storage is unavailable
SUCCESS, FAILED, SKIPPED, CANCELLED, WAITING = "Success", "Failed", "Skipped", "Cancelled", "Waiting"
PARKED = "Parked"  # an outcome only: the node waits, its edges stay undecided


class DagNodeFailed(Exception):
    """A node failed and no `on: "error"` edge routes its failure: the run (or the loop iteration) fails."""

    def __init__(self, node: DagNode, iteration: tuple[int, ...], error: Mapping[str, str]) -> None:
        where = f" in iteration {list(iteration)}" if iteration else ""
        super().__init__(f"node '{node.id}' ({node.type}){where} failed: {error['type']}: {error['message']}")
        self.node_id, self.iteration, self.error = node.id, iteration, dict(error)


class NodeTimedOut(TimeoutError):
    """A node ran past its own `timeout_seconds`."""


def max_concurrency() -> int:
    try:
        return max(1, int(os.environ.get(CONCURRENCY_SETTING, "") or DEFAULT_CONCURRENCY))
    except ValueError:
        return DEFAULT_CONCURRENCY


async def run_dag(definition: DagDefinition, context: ExecutionContext, inputs: dict[str, Any]) -> Any:
    """Run `definition` as the function of the execution `context` belongs to; its result, or DagNodeFailed."""
    state = RunState(definition, context, dict(inputs))
    state.load_journal()
    reader = context.config_reader
    if reader is not None and "secret(" in json.dumps(definition.to_json()):
        await reader.preload(context.scope)  # `secret()` reads from memory then, never blocking the loop
    try:
        graph = GraphRun(state, definition, {}, {}, ())
        try:
            await graph.run()
        except GraphParked:
            waiting = waiting_of(state.waits)
            known = Counter(str(event.get("event")) for event in state.events)
            seen = {name: known[name] for name in awaited_events(waiting)}
            raise ExecutionSuspended(waiting, events_seen=seen) from None
        finally:
            state.note_reused()
        if definition.output is not None:
            return templates.render_value(definition.output, graph.variables())
        return graph.result()
    finally:
        await state.close()


@dataclass
class RunState:
    """What every node of one run shares: the context, inputs, the concurrency bound, one HTTP client."""

    definition: DagDefinition
    context: ExecutionContext
    inputs: dict[str, Any]
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(max_concurrency()))
    _http: httpx.AsyncClient | None = None
    journal: dict[tuple[str, tuple[int, ...]], list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    waits: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0  # nodes this run did not run: they completed before it continued
    consumed: set[str] = field(default_factory=set)  # ids of delivered events a wait_for_event took
    durable: bool = False  # the execution is stored: it can pause and be resumed
    nested: bool = False  # run by another workflow's `context.run_workflow` (an action node): part of its step
    queued: bool = False  # nobody waits on it synchronously: a long retry backoff pauses it too

    def load_journal(self) -> None:
        """The node steps stored so far for this execution (`StepRecorder.history`), by node and iteration."""
        steps = self.context.steps
        invocation = self.context.invocation
        request = getattr(invocation, "request", None)
        # A definition registered nowhere (POST /api/dags/execute) could not be found again by a worker that wakes it.
        adhoc = request is not None and request.definition is not None and request.definition_version is None
        record = getattr(invocation, "record", None)
        # A DAG called by another workflow shares its caller's steps; it is re-run as a whole, never resumed alone.
        self.nested = invocation is not None and record is None and steps.sink is not None
        self.durable = steps.sink is not None and not adhoc and not self.nested
        if self.nested:
            return
        self.queued = self.durable and record is not None and (record.trigger.get("mode") == "async"
                                                               or bool(record.resumes))
        for step in steps.history:
            if isinstance(step.get("event_id"), str):
                self.consumed.add(step["event_id"])
            if step.get("step_type") == "event":
                self.events.append(step)
            elif step.get("step_type") == STEP_TYPE and isinstance(step.get("node_id"), str) and not step.get("nested"):
                key = (step["node_id"], tuple(step.get("iteration") or ()))
                self.journal.setdefault(key, []).append(step)

    def note_reused(self) -> None:
        capture = getattr(self.context.invocation, "capture", None)
        if self.reused and capture is not None:
            capture.add("INFO", "conduit.dag", f"{self.reused} node run(s) completed before this run continued; "
                                               "their recorded outcomes were used, they were not run again")

    def http(self) -> httpx.AsyncClient:
        """The run's client for `http_request` nodes (connections reused across nodes; closed with the run)."""
        if self._http is None:
            self._http = httpx.AsyncClient()
        return self._http

    def secret(self, name: str) -> str:
        return str(self.context.get_secret(name))  # masked in the execution's steps and logs from now on

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


@dataclass
class Outcome:
    status: str
    output: Any = None
    error: dict[str, str] | None = None

    def view(self) -> dict[str, Any]:
        """What templates read as `nodes.<id>`."""
        if self.status == SKIPPED:
            return {"output": None, "skipped": True}
        return {"output": self.output} if self.error is None else {"output": None, "error": self.error}


class GraphRun:
    """One graph (the definition, or one iteration of a loop body) being run."""

    def __init__(self, state: RunState, graph: DagGraph, outer_nodes: Mapping[str, Any],
                 loop_vars: Mapping[str, Any], iteration: tuple[int, ...]) -> None:
        self.state, self.graph, self.iteration = state, graph, iteration
        self.loop_vars = dict(loop_vars)
        self.nodes_view: dict[str, Any] = dict(outer_nodes)
        self.outcomes: dict[str, Outcome] = {}
        self.incoming: dict[str, list[DagEdge]] = {n.id: [] for n in graph.nodes}
        self.outgoing: dict[str, list[DagEdge]] = {n.id: [] for n in graph.nodes}
        for edge in graph.edges:
            self.incoming.setdefault(edge.target, []).append(edge)
            self.outgoing.setdefault(edge.source, []).append(edge)
        self.taken: dict[int, bool] = {}  # id(edge) -> taken; absent: undecided
        self.started: set[str] = set()
        self.parked: list[str] = []
        self.tasks: dict[asyncio.Task[Outcome], DagNode] = {}

    def variables(self, **extra: Any) -> dict[str, Any]:
        return {"inputs": self.state.inputs, "nodes": self.nodes_view, "secret": self.state.secret,
                **self.loop_vars, **extra}

    async def run(self) -> None:
        try:
            for node in self._entries():
                self._start(node)
            while self.tasks:
                done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    node = self.tasks.pop(task)
                    self._finished(node, task.result())
        finally:
            await self._cancel_in_flight()
        if self.parked:
            raise GraphParked(f"nodes {', '.join(self.parked)} wait")

    def _entries(self) -> list[DagNode]:
        triggers = [n for n in self.graph.nodes if n.type == "trigger"]
        return triggers[:1] or [n for n in self.graph.nodes if not self.incoming[n.id]]

    def _start(self, node: DagNode) -> None:
        self.started.add(node.id)
        predecessors = {e.source: self.outcomes[e.source].output for e in self.incoming[node.id]
                        if self.taken.get(id(e)) and e.source in self.outcomes}
        run = NodeRun(self, node, predecessors)
        self.tasks[asyncio.ensure_future(run.execute())] = node

    def _finished(self, node: DagNode, outcome: Outcome) -> None:
        if outcome.status == PARKED:
            self.parked.append(node.id)  # its edges stay undecided: what follows it waits with it
            return
        self.outcomes[node.id] = outcome
        self.nodes_view[node.id] = outcome.view()
        edges = self.outgoing.get(node.id, [])
        if outcome.status == FAILED:
            assert outcome.error is not None
            if not any(e.on_error for e in edges):
                raise DagNodeFailed(node, self.iteration, outcome.error)
            chosen: Callable[[DagEdge], bool] = lambda e: e.on_error  # noqa: E731
        else:
            labels = outcome.output.labels if isinstance(outcome.output, Branch) else None
            if labels is not None:
                assert isinstance(outcome.output, Branch)
                outcome.output = outcome.output.output
                self.nodes_view[node.id] = outcome.view()
            chosen = lambda e: not e.on_error and (labels is None or (e.label or "") in labels)  # noqa: E731
        self._decide(edges, chosen)

    def _decide(self, edges: list[DagEdge], taken: Callable[[DagEdge], bool]) -> None:
        for edge in edges:
            self.taken[id(edge)] = taken(edge)
        for target in dict.fromkeys(e.target for e in edges):
            self._consider(target)

    def _consider(self, node_id: str) -> None:
        """Start the node if it is ready, skip it (and what only it leads to) if it cannot run any more."""
        node = self.graph.node(node_id)
        if node is None or node_id in self.started:
            return
        edges = self.incoming[node_id]
        decided = [self.taken[id(e)] for e in edges if id(e) in self.taken]
        if any(decided) and (len(decided) == len(edges) or _joins_any(node)):
            self._start(node)
        elif len(decided) == len(edges):
            self.started.add(node_id)
            self._skip(node)

    def _skip(self, node: DagNode) -> None:
        if not self.state.journal.get((node.id, self.iteration)):  # skipped before this run continued: recorded
            NodeRun(self, node, {}).record(SKIPPED, None, None, order=None, started=datetime.now(UTC), clock=None)
        self.outcomes[node.id] = Outcome(SKIPPED)
        self.nodes_view[node.id] = Outcome(SKIPPED).view()
        self._decide(self.outgoing.get(node.id, []), lambda e: False)

    async def _cancel_in_flight(self) -> None:
        if not self.tasks:
            return
        for task in self.tasks:
            task.cancel()
        await asyncio.wait(self.tasks, timeout=grace_seconds() + 1)
        self.tasks.clear()

    def result(self) -> Any:
        """The output of the one non-skipped sink, else {sink id: output} of the non-skipped sinks."""
        sinks = [n.id for n in self.graph.nodes if not self.outgoing.get(n.id)
                 and n.id in self.outcomes and self.outcomes[n.id].status != SKIPPED]
        if len(sinks) == 1:
            return self.outcomes[sinks[0]].output
        return {sink: self.outcomes[sink].output for sink in sinks}


def _attribute(handler: NodeHandler, key: str) -> str:
    """The config attribute a `data` key fills (`json` -> `json_body`)."""
    for name, info in handler.Config.model_fields.items():
        if key in (name, info.alias):
            return name
    return key


def _joins_any(node: DagNode) -> bool:
    return node.type == "join" and node.data.get("mode") == "any"


class NodeRun:
    """One node's run: what its handler sees (`run.context`, `run.evaluate`, `run.run_body`, ...)."""

    def __init__(self, graph: GraphRun, node: DagNode, predecessors: dict[str, Any]) -> None:
        self.graph, self.node, self.predecessors = graph, node, predecessors
        self.state = graph.state
        self.context = graph.state.context
        self.inputs = graph.state.inputs
        self.iteration = graph.iteration
        handler = handler_for(node.type)
        self.out_labels = {e.label for e in graph.outgoing.get(node.id, []) if not e.on_error and e.label}
        self.handler: NodeHandler | None = handler
        self.input: Any = dict(node.data)
        self.history = graph.state.journal.get((node.id, graph.iteration), [])
        last = self.history[-1] if self.history else None
        self.previous_wait = last if last is not None and last.get("status") == WAITING else None
        self.node_attempt = 1 + sum(1 for step in self.history if step.get("retry_at"))
        self.retry = _retry_policy(node)
        self.step_extra: dict[str, Any] = {}  # what a handler adds to its step (a taken event's id)

    @property
    def step_name(self) -> str:
        return self.node.id + (f"[{','.join(map(str, self.iteration))}]" if self.iteration else "")

    def evaluate(self, expression: str, **extra: Any) -> Any:
        return templates.evaluate(expression, self.graph.variables(**extra))

    def render(self, value: Any, **extra: Any) -> Any:
        return templates.render_value(value, self.graph.variables(**extra))

    def http(self) -> httpx.AsyncClient:
        return self.state.http()

    async def run_body(self, body: DagGraph, index: int, loop_vars: Mapping[str, Any]) -> Any:
        """One iteration of a loop body: its result by the sink rule; DagNodeFailed when a body node fails."""
        graph = GraphRun(self.state, body, self.graph.nodes_view, {**self.graph.loop_vars, **loop_vars},
                         (*self.iteration, index))
        await graph.run()
        return graph.result()

    async def execute(self) -> Outcome:
        """Run the node (each retry an attempt of its own), record its step, write it when the execution is stored;
        never raises but to cancel. A node completed before this run continued is not run: its outcome is reused."""
        reused = self._reused()
        if reused is not None:
            return reused
        while True:
            order, started, clock = self.context.steps.next_order(), datetime.now(UTC), time.perf_counter()
            token = current_step.set((self.step_name, STEP_TYPE))
            try:
                self._park_until_retry()
                outcome = Outcome(SUCCESS, await self._slotted())
            except asyncio.CancelledError:
                self.record(CANCELLED, None, {"type": "Cancelled", "message": "the run stopped"}, order, started,
                            clock)
                raise
            except NodeParked as parked:
                return await self._parked(parked, order, started)
            except GraphParked:
                return Outcome(PARKED)  # a loop whose iterations wait recorded their own steps
            except Exception as error:
                outcome = Outcome(FAILED, error=error_of(error))
                delay = self._retry_delay(error)
                if delay is not None:
                    paused = await self._retry_after(outcome, delay, order, started, clock)
                    if paused is not None:
                        return paused
                    continue
            finally:
                current_step.reset(token)
            await self._write(self._record_outcome(outcome, order, started, clock))
            return outcome

    async def _slotted(self) -> Any:
        if self.handler is not None and self.handler.body_field is not None:
            return await self._timed()  # a loop holds no slot: its body's nodes take them
        async with self.state.slots:
            return await self._timed()

    def _reused(self) -> Outcome | None:
        """The outcome this node reached before the run continued, when it is complete and recorded whole."""
        last = self.history[-1] if self.history else None
        if last is None or "truncated" in last or last.get("reusable") is False:
            return None
        if last.get("status") == SUCCESS:
            output = last.get("output_data")
            labels = last.get("labels")
            chooses = self.handler is not None and (self.handler.is_gateway or self.node.type == "wait_for_event")
            if chooses and not isinstance(labels, list):
                return None  # its choice of edges was not recorded (a step stored before labels were): run it
            outcome = Outcome(SUCCESS, Branch(output, frozenset(labels)) if isinstance(labels, list) else output)
        elif last.get("status") == FAILED and not last.get("retry_at") and any(
                e.on_error for e in self.graph.outgoing.get(self.node.id, [])):
            outcome = Outcome(FAILED, error=last.get("error") or {"type": "Error", "message": "failed"})
        else:
            return None
        self.state.reused += 1
        return outcome

    def _park_until_retry(self) -> None:
        """Still inside a retry's backoff (woken early by something else): wait on, recording nothing new."""
        last = self.history[-1] if self.history else None
        retry_at = last.get("retry_at") if last else None
        wake = when(retry_at)
        if wake is not None and not is_due(wake):
            raise NodeParked({"reason": "retry", "node_id": self.node.id, "until": retry_at,
                              "node_attempt": self.node_attempt}, recorded=True)

    def _retry_delay(self, error: Exception) -> float | None:
        """Seconds before the next attempt when the node's policy retries `error`, else None."""
        policy = self.retry
        if policy is None or self.node_attempt >= policy.max_attempts or not policy.retries(error):
            return None
        return policy.delay_before(self.node_attempt)

    async def _retry_after(self, failed: Outcome, delay: float, order: int, started: datetime,
                           clock: float) -> Outcome | None:
        """Record the failed attempt, then wait in place (short backoff, or nobody to wake a paused run) or pause;
        the paused outcome, or None to run the next attempt now."""
        retry_at = iso(datetime.now(UTC) + timedelta(seconds=delay)) or ""
        step = self._record_outcome(failed, order, started, clock, retry_at=retry_at)
        await self._write(step)
        self.history = [*self.history, step]
        self.node_attempt += 1
        if delay >= park_after_seconds() and self.state.queued:
            wait = {"reason": "retry", "node_id": self.node.id, "until": retry_at, "node_attempt": self.node_attempt}
            return await self._parked(NodeParked(wait, recorded=True), order, started)
        await asyncio.sleep(delay)
        return None

    async def _parked(self, parked: NodeParked, order: int, started: datetime) -> Outcome:
        """The node waits: record its Waiting step (unless it is stored already) and tell the graph."""
        if not self.state.durable:
            raise RuntimeError(f"node '{self.node.id}' would wait ({parked.wait.get('reason')}), but this run "
                               "cannot pause: it is not stored, or its definition is registered nowhere (POST "
                               "/api/dags/execute); store the DAG (POST /api/dags) or deploy it as a file to wait")
        wait = {**parked.wait, "node_id": self.node.id}
        if self.iteration:
            wait["iteration"] = list(self.iteration)
        self.state.waits.append(wait)
        if not parked.recorded:
            await self._write(self.record(WAITING, wait, None, order, started, None))
        return Outcome(PARKED)

    def _record_outcome(self, outcome: Outcome, order: int, started: datetime, clock: float | None,
                        **extra: Any) -> dict[str, Any]:
        output = outcome.output
        if isinstance(output, Branch):
            extra["labels"] = sorted(output.labels)
            output = output.output
        return self.record(outcome.status, output, outcome.error, order, started, clock, **extra)

    async def _write(self, step: dict[str, Any]) -> None:
        steps = self.context.steps
        await retrying(lambda: steps.persist([step]), STEP_WRITE_SECONDS, 2.0, f"recording node {self.step_name}")

    def take_event(self, name: str) -> dict[str, Any] | None:
        """The oldest delivery of event `name` no wait of this execution has taken yet (taken now), or None. Taken
        deliveries are known by the `event_id` of the steps that took them, not by clocks: a wait that comes round
        again (a loop) never takes a delivery meant for an earlier one, whatever the hosts' clocks say."""
        event = next((e for e in self.state.events if e.get("event") == name
                      and str(e.get("id")) not in self.state.consumed), None)
        if event is not None:
            self.state.consumed.add(str(event.get("id")))
            self.step_extra["event_id"] = str(event.get("id"))
        return event

    async def _timed(self) -> Any:
        seconds = self.node.timeout_seconds
        if seconds is None:
            return await self._run()
        try:
            async with asyncio.timeout(seconds) as scope:
                return await self._run()
        except TimeoutError:
            if scope.expired():
                raise NodeTimedOut(f"node '{self.node.id}' timed out after {seconds:g} seconds") from None
            raise

    async def _run(self) -> Any:
        handler = self.handler
        if handler is None:
            raise LookupError(f"unknown node type '{self.node.type}'")
        try:  # the shape as written (validation checked it too), then the rendered values put in
            config = handler.Config.model_validate(self.node.data)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in error.errors())
            raise ValueError(f"the node's data is not valid: {problems}") from None
        variables = self.graph.variables()
        rendered = {key: templates.render_value(self.node.data[key], variables)
                    for key in handler.template_fields if key in self.node.data}
        self.input = {k: v for k, v in {**self.node.data, **rendered}.items() if k != handler.body_field}
        config = config.model_copy(update={_attribute(handler, key): value for key, value in rendered.items()})
        return await handler.run(self, config)

    def record(self, status: str, output: Any, error: dict[str, str] | None, order: int | None,
               started: datetime, clock: float | None, **extra: Any) -> dict[str, Any]:
        step = self.context.steps.record(
            self.step_name, STEP_TYPE, status, input_data=self.input, output_data=output,
            duration_ms=0.0 if clock is None else (time.perf_counter() - clock) * 1000,
            error_message=None if error is None else f"{error['type']}: {error['message']}",
            order=order, started=started,
            extra={"node_id": self.node.id, "node_type": self.node.type, "iteration": list(self.iteration),
                   "node_attempt": self.node_attempt, "error": error, **self.step_extra, **extra,
                   **({"nested": True} if self.state.nested else {})},
        )
        if self.context.steps.redactor is not None and step["output_data"] != json_safe(output):
            step["reusable"] = False  # a secret was masked in it: a continued run runs this node again
        return step


def _retry_policy(node: DagNode) -> RetryPolicy | None:
    """The node's `retry` (validation checked it; a policy that no longer parses is no policy)."""
    if node.retry is None:
        return None
    try:
        return parse_retry_policy(node.retry, "retry")
    except ValueError:
        return None


def error_of(error: BaseException) -> dict[str, str]:
    """A node's error as templates read it (`nodes.<id>.error`): its type and message, every bad field named."""
    message = str(error) or type(error).__name__
    details = getattr(error, "details", None)
    if isinstance(details, list) and details and all(isinstance(d, dict) and "field" in d for d in details):
        message += " (" + "; ".join(f"{d['field']}: {d.get('message')}" for d in details) + ")"
    return {"type": type(error).__name__, "message": message}
