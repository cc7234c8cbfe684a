"""Boolean expression evaluation (source ``boolean``).

Variables ``p, q, r, s, t`` get truth values; an expression tree of depth 1-4 over
``and``/``or``/``not`` is evaluated bottom-up, one operation per line. A wrong reasoning
flips one intermediate result (one whose flip changes the final value) and carries it
on. Difficulty grows with depth and the number of operations.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from autosel.pool.demo.base import Domain, Reasoning

VARS = ("p", "q", "r", "s", "t")
MAX_OPS = 9


@dataclass(frozen=True)
class Node:
    op: str  # "var", "not", "and", "or"
    name: str = ""
    kids: tuple[Node, ...] = ()


@dataclass(frozen=True)
class BoolSpec:
    values: tuple[tuple[str, bool], ...]
    expr: Node
    depth: int


def _tree(depth: int, names: tuple[str, ...], rng: random.Random) -> Node:
    if depth == 0:
        return Node("var", rng.choice(names))
    first = _tree(depth - 1, names, rng)
    if first.op != "not" and rng.random() < 0.25:
        return Node("not", kids=(first,))
    other = _tree(rng.randint(0, depth - 1), names, rng)
    kids = (first, other) if rng.random() < 0.5 else (other, first)
    return Node(rng.choice(("and", "or")), kids=kids)


def _ops(node: Node) -> list[Node]:
    """Operation nodes in evaluation order (post-order)."""
    if node.op == "var":
        return []
    out = [x for k in node.kids for x in _ops(k)]
    return [*out, node]


def _text(node: Node, env: dict[str, bool] | None = None, top: bool = True) -> str:
    """The expression, with variable names or (given ``env``) their values substituted."""
    if node.op == "var":
        return str(env[node.name]) if env is not None else node.name
    if node.op == "not":
        return f"not {_text(node.kids[0], env, top=False)}"
    inner = f" {node.op} ".join(_text(k, env, top=False) for k in node.kids)
    return inner if top else f"({inner})"


def _evaluate(node: Node, env: dict[str, bool], flip: Node | None, log: list[str]) -> bool:
    """Evaluate bottom-up, logging one line per operation; ``flip`` gets the wrong result."""
    if node.op == "var":
        return env[node.name]
    vals = [_evaluate(k, env, flip, log) for k in node.kids]
    if node.op == "not":
        v, shown = not vals[0], f"not {vals[0]}"
    else:
        v = all(vals) if node.op == "and" else any(vals)
        shown = f"{vals[0]} {node.op} {vals[1]}"
    if node is flip:
        v = not v
    log.append(f"{shown} = {v}.")
    return v


class Boolean(Domain):
    name = "boolean"

    def sample(self, rng: random.Random) -> BoolSpec:
        names = VARS[: rng.randint(3, 5)]
        values = tuple((n, rng.random() < 0.5) for n in names)
        depth = rng.randint(1, 4)
        expr = _tree(depth, names, rng)
        while len(_ops(expr)) > MAX_OPS:  # keep responses short
            expr = _tree(depth, names, rng)
        return BoolSpec(values, expr, depth)

    def task(self, spec: BoolSpec) -> str:
        return "evaluate"

    def question(self, spec: BoolSpec) -> str:
        assigned = ", ".join(f"{n} = {v}" for n, v in spec.values)
        return (f"Let {assigned}.\nEvaluate: {_text(spec.expr)}\n"
                "Is the expression true or false?")

    def answer(self, spec: BoolSpec) -> str:
        return str(_evaluate(spec.expr, dict(spec.values), None, [])).lower()

    def difficulty(self, spec: BoolSpec) -> float:
        return 0.6 * (spec.depth - 1) / 3 + 0.4 * min(1.0, (len(_ops(spec.expr)) - 1) / 8)

    def reasoning(self, spec: BoolSpec, rng: random.Random) -> Reasoning:
        return self._trace(spec, None, rng)

    def wrong_reasoning(self, spec: BoolSpec, rng: random.Random) -> Reasoning:
        env = dict(spec.values)
        truth = _evaluate(spec.expr, env, None, [])
        # Only flips that reach the root make a wrong final answer; the root always does.
        sensitive = [n for n in _ops(spec.expr) if _evaluate(spec.expr, env, n, []) != truth]
        return self._trace(spec, rng.choice(sensitive), rng)

    def _trace(self, spec: BoolSpec, flip: Node | None, rng: random.Random) -> Reasoning:
        env = dict(spec.values)
        lead = rng.choice(("Substitute the values:", "Plug in the values:"))
        log = [f"{lead} {_text(spec.expr, env)}."]
        v = _evaluate(spec.expr, env, flip, log)
        return Reasoning(tuple(log), str(v).lower())

    def distractors(self, spec: BoolSpec, rng: random.Random) -> list[str]:
        return ["false" if self.answer(spec) == "true" else "true"]

    def solve(self, question: str) -> str:
        m = re.search(r"Evaluate: (.+)", question)
        if m is None:
            raise ValueError(f"not a boolean demo question: {question[:60]!r}")
        env = {k: v == "True" for k, v in re.findall(r"\b([a-z]) = (True|False)\b", question)}
        tokens = re.findall(r"\(|\)|\w+", m.group(1))
        value, rest = _parse_or(tokens, env)
        if rest:
            raise ValueError(f"trailing tokens in expression: {rest}")
        return str(value).lower()


# Recursive descent with Python precedence (not > and > or), independent of the generator.
def _parse_or(tokens: list[str], env: dict[str, bool]) -> tuple[bool, list[str]]:
    value, tokens = _parse_and(tokens, env)
    while tokens and tokens[0] == "or":
        rhs, tokens = _parse_and(tokens[1:], env)
        value = value or rhs
    return value, tokens


def _parse_and(tokens: list[str], env: dict[str, bool]) -> tuple[bool, list[str]]:
    value, tokens = _parse_not(tokens, env)
    while tokens and tokens[0] == "and":
        rhs, tokens = _parse_not(tokens[1:], env)
        value = value and rhs
    return value, tokens


def _parse_not(tokens: list[str], env: dict[str, bool]) -> tuple[bool, list[str]]:
    if tokens[0] == "not":
        value, rest = _parse_not(tokens[1:], env)
        return not value, rest
    if tokens[0] == "(":
        value, rest = _parse_or(tokens[1:], env)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parentheses")
        return value, rest[1:]
    return env[tokens[0]], tokens[1:]
