"""Reachability and shortest paths on small undirected graphs (source ``graphs``).

Graphs have 4-9 nodes named by letters. The reasoning is a breadth-first search written
level by level. A wrong reasoning misreads the graph (an edge that does not exist, or a
neighbour overlooked) and carries the search to a wrong answer. Difficulty grows with
the number of nodes and edges and with the distance searched.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from autosel.pool.demo.base import Domain, Reasoning, pick_distinct

Edge = tuple[str, str]


@dataclass(frozen=True)
class GraphSpec:
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]  # each (u, v) with u < v, sorted
    source: str
    target: str
    shortest: bool  # True: shortest path length; False: reachability yes/no


def bfs_levels(nodes: tuple[str, ...], edges: tuple[Edge, ...], s: str) -> list[list[str]]:
    """Nodes by distance from ``s`` (level 0 is ``[s]``), each level sorted."""
    adj: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in edges:
        adj[u].append(v)
        adj[v].append(u)
    seen, levels = {s}, [[s]]
    while True:
        nxt = sorted({w for u in levels[-1] for w in adj[u] if w not in seen})
        if not nxt:
            return levels
        seen.update(nxt)
        levels.append(nxt)


def distance(nodes: tuple[str, ...], edges: tuple[Edge, ...], s: str, t: str) -> int | None:
    for d, level in enumerate(bfs_levels(nodes, edges, s)):
        if t in level:
            return d
    return None


def _random_tree(names: list[str], rng: random.Random) -> set[Edge]:
    edges = set()
    for i in range(1, len(names)):
        u, v = names[i], names[rng.randrange(i)]
        edges.add((min(u, v), max(u, v)))
    return edges


def _add_extra(names: list[str], edges: set[Edge], k: int, rng: random.Random) -> None:
    for _ in range(k):
        u, v = rng.sample(names, 2)
        edges.add((min(u, v), max(u, v)))


class Graphs(Domain):
    name = "graphs"

    def sample(self, rng: random.Random) -> GraphSpec:
        n = rng.randint(4, 9)
        nodes = sorted(rng.sample(string.ascii_uppercase[:12], n))
        order = nodes[:]
        rng.shuffle(order)
        shortest = rng.random() < 0.55
        split = 0 if shortest or rng.random() < 0.4 else rng.randint(2, n - 2)
        parts = [order] if not split else [order[:split], order[split:]]
        edges: set[Edge] = set()
        for part in parts:
            edges |= _random_tree(part, rng)
            _add_extra(part, edges, rng.randint(0, len(part) // 2), rng)
        if split and rng.random() < 0.7:  # across the two parts: the answer is "no"
            s, t = rng.choice(parts[0]), rng.choice(parts[1])
        else:
            s, t = rng.sample(rng.choice(parts), 2)
        return GraphSpec(tuple(nodes), tuple(sorted(edges)), s, t, shortest)

    def task(self, spec: GraphSpec) -> str:
        return "shortest_path" if spec.shortest else "reachability"

    def question(self, spec: GraphSpec) -> str:
        head = (f"A graph has nodes {', '.join(spec.nodes)} and undirected edges "
                f"{', '.join(f'{u}-{v}' for u, v in spec.edges)}.")
        if spec.shortest:
            return (f"{head} What is the length of the shortest path from {spec.source} "
                    f"to {spec.target}?")
        return f"{head} Is there a path from {spec.source} to {spec.target}? Answer yes or no."

    def answer(self, spec: GraphSpec) -> str:
        d = distance(spec.nodes, spec.edges, spec.source, spec.target)
        return str(d) if spec.shortest else ("no" if d is None else "yes")

    def difficulty(self, spec: GraphSpec) -> float:
        n = len(spec.nodes)
        levels = len(bfs_levels(spec.nodes, spec.edges, spec.source)) - 1
        return 0.5 * (n - 4) / 5 + 0.3 * min(levels, 5) / 5 + 0.2 * min(1.0, len(spec.edges) / 12)

    def reasoning(self, spec: GraphSpec, rng: random.Random) -> Reasoning:
        return _bfs_trace(spec, spec.edges, rng)

    def wrong_reasoning(self, spec: GraphSpec, rng: random.Random) -> Reasoning:
        truth = self.answer(spec)
        for _ in range(30):
            misread = _misread(spec, rng)
            r = _bfs_trace(spec, misread, rng)
            if r.answer != truth and (r.answer != "None"):
                return r
        # Fallback for graphs no single misreading changes: miscount the path at the end.
        r = _bfs_trace(spec, spec.edges, rng)
        wrong = str(int(truth) + 1) if spec.shortest else ("no" if truth == "yes" else "yes")
        return Reasoning(r.lines[:-1] + (f"Counting again, the answer is {wrong}.",), wrong)

    def distractors(self, spec: GraphSpec, rng: random.Random) -> list[str]:
        if not spec.shortest:
            return ["no" if self.answer(spec) == "yes" else "yes"]
        d = int(self.answer(spec))
        wrong = self.wrong_reasoning(spec, rng).answer
        near = [str(v) for v in (d + 1, d - 1, d + 2, d + 3) if v >= 1]
        return pick_distinct([wrong, *near], str(d), 3, rng)

    def solve(self, question: str) -> str:
        m = re.search(r"nodes ([A-Z](?:, [A-Z])*) and undirected edges", question)
        st = re.search(r"from ([A-Z]) to ([A-Z])\?", question)
        if m is None or st is None:
            raise ValueError(f"not a graph demo question: {question[:60]!r}")
        nodes = tuple(m.group(1).split(", "))
        edges = tuple((u, v) for u, v in re.findall(r"\b([A-Z])-([A-Z])\b", question))
        d = distance(nodes, edges, st.group(1), st.group(2))
        if "shortest path" in question:
            return str(d)
        return "no" if d is None else "yes"


def _misread(spec: GraphSpec, rng: random.Random) -> tuple[Edge, ...]:
    """The graph with one edge invented or one edge overlooked."""
    edges = list(spec.edges)
    if rng.random() < 0.5 and len(edges) > 1:
        edges.pop(rng.randrange(len(edges)))
    else:
        u, v = rng.sample(spec.nodes, 2)
        edges.append((min(u, v), max(u, v)))
    return tuple(sorted(set(edges)))


def _path(spec: GraphSpec, edges: tuple[Edge, ...], levels: list[list[str]]) -> list[str]:
    """One shortest path from source to target, walking back through the levels."""
    adj = {(u, v) for u, v in edges} | {(v, u) for u, v in edges}
    path = [spec.target]
    for level in reversed(levels[:-1]):
        path.append(next(u for u in level if (u, path[-1]) in adj))
    return path[::-1]


def _bfs_trace(spec: GraphSpec, edges: tuple[Edge, ...], rng: random.Random) -> Reasoning:
    s, t = spec.source, spec.target
    word = rng.choice(("Distance", "Level"))
    lines = [rng.choice((f"Start a breadth-first search at {s}.", f"Search outward from {s}."))]
    levels = bfs_levels(spec.nodes, edges, s)
    for d, level in enumerate(levels[1:], start=1):
        lines.append(f"{word} {d}: {', '.join(level)}.")
        if t in level:
            path = "-".join(_path(spec, edges, levels[: d + 1]))
            if spec.shortest:
                lines.append(f"{t} is reached at distance {d} by the path {path}.")
                return Reasoning(tuple(lines), str(d))
            lines.append(f"{t} is reached by the path {path}, so a path exists.")
            return Reasoning(tuple(lines), "yes")
    lines.append(f"No new nodes can be reached, and {t} was never reached.")
    # An unreachable target in a shortest-path question only happens in misread graphs.
    return Reasoning(tuple(lines), "no" if not spec.shortest else "None")
