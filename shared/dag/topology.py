"""The shape of one graph (a definition's top level, or one loop body) as plain ids and edges: entry nodes,
ancestors, cycles and weakly connected components.

Validation reports from these; they take ids and (source, target) pairs only, so edges naming missing nodes must be
left out by the caller (they are reported on their own).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TRIGGER = "trigger"


@dataclass
class Topology:
    """Node ids in definition order, their types, and the edges between them (duplicates collapsed)."""

    ids: list[str]
    types: dict[str, str]
    edges: list[tuple[str, str]]
    successors: dict[str, list[str]] = field(init=False)
    predecessors: dict[str, list[str]] = field(init=False)
    position: dict[str, int] = field(init=False)
    _ancestors: dict[str, frozenset[str]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.position = {node: index for index, node in enumerate(self.ids)}
        self.successors = {node: [] for node in self.ids}
        self.predecessors = {node: [] for node in self.ids}
        for source, target in dict.fromkeys(self.edges):
            self.successors[source].append(target)
            self.predecessors[target].append(source)

    def triggers(self) -> list[str]:
        return [node for node in self.ids if self.types.get(node) == TRIGGER]

    def entries(self) -> list[str]:
        """The nodes a run starts from: the trigger if there is one, else every node with no incoming edge."""
        triggers = self.triggers()
        if triggers:
            return triggers[:1]
        return [node for node in self.ids if not self.predecessors[node]]

    def reachable(self, starts: Iterable[str]) -> set[str]:
        return _walk(starts, self.successors)

    def ancestors(self, node: str) -> frozenset[str]:
        """Every node with a path to `node` (not `node` itself unless it is on a cycle)."""
        if self._ancestors is None:
            self._ancestors = self._acyclic_ancestors()
        known = self._ancestors.get(node)
        return known if known is not None else frozenset(_walk(self.predecessors[node], self.predecessors))

    def _acyclic_ancestors(self) -> dict[str, frozenset[str]]:
        """The ancestors of every node not on or after a cycle, all at once in topological order (Kahn), so a
        500-node chain costs one pass instead of a walk per node."""
        waiting = {node: len(self.predecessors[node]) for node in self.ids}
        ready = [node for node in self.ids if not waiting[node]]
        found: dict[str, frozenset[str]] = {}
        while ready:
            node = ready.pop()
            found[node] = frozenset().union(*(found[p] | {p} for p in self.predecessors[node]))
            for successor in self.successors[node]:
                waiting[successor] -= 1
                if not waiting[successor]:
                    ready.append(successor)
        return found

    def components(self) -> list[list[str]]:
        """Weakly connected components, each in definition order, the components ordered by their first node."""
        neighbours = {n: self.successors[n] + self.predecessors[n] for n in self.ids}
        seen: set[str] = set()
        found = []
        for node in self.ids:
            if node not in seen:
                members = _walk([node], neighbours)
                seen |= members
                found.append(self._in_order(members))
        return found

    def _in_order(self, members: set[str]) -> list[str]:
        return sorted(members, key=self.position.__getitem__)

    def cycles(self) -> list[list[str]]:
        """One closed path per strongly connected component that holds a cycle: `[a, b, c, a]`."""
        return [self._cycle_through(component) for component in self._strong_components()
                if len(component) > 1 or component[0] in self.successors[component[0]]]

    def _strong_components(self) -> list[list[str]]:
        """Kosaraju: finish order on the graph, then components on the reversed graph in reverse finish order."""
        order: list[str] = []
        visited: set[str] = set()
        for start in self.ids:
            if start not in visited:
                _finish_order(start, self.successors, visited, order)
        assigned: set[str] = set()
        components = []
        for node in reversed(order):
            if node not in assigned:
                members = _walk([node], self.predecessors, skip=assigned)
                assigned |= members
                components.append(self._in_order(members))
        return components

    def _cycle_through(self, component: list[str]) -> list[str]:
        """A shortest closed path from the component's first node back to it, inside the component."""
        start, inside = component[0], set(component)
        parents: dict[str, str] = {}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for successor in self.successors[node]:
                    if successor == start:
                        return [*_path_back(parents, node, start), start]
                    if successor in inside and successor not in parents:
                        parents[successor] = node
                        following.append(successor)
            frontier = following
        return [start, start]  # not reached: every strong component with a cycle has a path back to its start


def _walk(starts: Iterable[str], neighbours: dict[str, list[str]], skip: set[str] | None = None) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node not in seen and (skip is None or node not in skip):
            seen.add(node)
            stack.extend(neighbours[node])
    return seen


def _finish_order(start: str, successors: dict[str, list[str]], visited: set[str], order: list[str]) -> None:
    """Iterative depth-first search appending nodes when finished (a graph may be 500 nodes deep)."""
    visited.add(start)
    stack = [(start, iter(successors[start]))]
    while stack:
        node, pending = stack[-1]
        successor = next((s for s in pending if s not in visited), None)
        if successor is None:
            stack.pop()
            order.append(node)
        else:
            visited.add(successor)
            stack.append((successor, iter(successors[successor])))


def _path_back(parents: dict[str, str], node: str, start: str) -> list[str]:
    path = [node]
    while path[-1] != start:
        path.append(parents[path[-1]])
    return list(reversed(path))
