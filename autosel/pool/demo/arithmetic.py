"""Multi-step arithmetic word problems (source ``arithmetic``).

A person starts with some items and goes through 2-6 operations (buy, give away, receive
bags of several, double/triple, split into jars, give several to each friend). The
difficulty grows with the number of operations and the share of multiplicative ones.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from autosel.pool.demo.base import Domain, Reasoning, pick_distinct

NAMES_SHE = ("Mia", "Ava", "Lena", "Sara", "Nora", "Emma", "Zoe", "Ines", "Maya", "Ruth", "Lucy",
             "Ada")
NAMES_HE = ("Liam", "Omar", "Noah", "Jonas", "Ravi", "Tom", "Hugo", "Ivan", "Leo", "Sam", "Ben",
            "Kai")
ITEMS = ("apples", "marbles", "stickers", "books", "coins", "cookies", "pencils", "stamps",
         "shells", "cards", "beads", "candles")
SUFFIXES = ("", " Show your steps.", " Explain your reasoning.")
MUL_WORDS = {2: "doubles", 3: "triples"}


@dataclass(frozen=True)
class ArithSpec:
    name: str
    he: bool
    item: str
    start: int
    ops: tuple[tuple[str, int, int], ...]  # (kind, a, b); b unused (0) for one-number ops
    suffix: int


def apply_op(x: int, kind: str, a: int, b: int) -> int:
    """The value after one operation (integer division for ``split``: generated exactly)."""
    if kind == "buy":
        return x + a
    if kind == "give":
        return x - a
    if kind == "bags":
        return x + a * b
    if kind == "each":
        return x - a * b
    if kind == "mul":
        return x * a
    if kind == "split":
        return x // a
    raise ValueError(f"unknown operation {kind!r}")


def _feasible_op(x: int, rng: random.Random) -> tuple[str, int, int]:
    """A random operation that keeps the count a positive integer of moderate size."""
    options: list[tuple[str, int, int]] = [("buy", rng.randint(2, 40), 0)]
    if x > 4:
        options.append(("give", rng.randint(2, x - 2), 0))
    options.append(("bags", rng.randint(2, 6), rng.randint(2, 12)))
    k, m = rng.randint(2, 5), rng.randint(2, 8)
    if k * m < x - 1:
        options.append(("each", m, k))
    if x <= 120:
        options.append(("mul", 2 if x > 60 else rng.choice((2, 3)), 0))
    divisors = [d for d in (2, 3, 4, 5) if x % d == 0 and x // d >= 2]
    if divisors:
        options.append(("split", rng.choice(divisors), 0))
    return rng.choice(options)


class Arithmetic(Domain):
    name = "arithmetic"

    def sample(self, rng: random.Random) -> ArithSpec:
        he = rng.random() < 0.5
        x = start = rng.randint(5, 60)
        ops = []
        for _ in range(rng.randint(2, 6)):
            op = _feasible_op(x, rng)
            ops.append(op)
            x = apply_op(x, *op)
        return ArithSpec(rng.choice(NAMES_HE if he else NAMES_SHE), he, rng.choice(ITEMS), start,
                         tuple(ops), rng.randrange(len(SUFFIXES)))

    def task(self, spec: ArithSpec) -> str:
        return "word_problem"

    def question(self, spec: ArithSpec) -> str:
        p, pos = ("He", "his") if spec.he else ("She", "her")
        it = spec.item
        parts = [f"{spec.name} has {spec.start} {it}."]
        for kind, a, b in spec.ops:
            parts.append({
                "buy": f"{p} buys {a} more {it}.",
                "give": f"{p} gives away {a} {it}.",
                "bags": f"{p} gets {a} bags with {b} {it} in each.",
                "each": f"{p} gives {a} {it} to each of {b} friends.",
                "mul": f"{p} {MUL_WORDS.get(a, '')} {pos} {it}.",
                "split": f"{p} splits {pos} {it} equally into {a} jars and keeps one jar.",
            }[kind])
        parts.append(f"How many {it} does {spec.name} have now?{SUFFIXES[spec.suffix]}")
        return " ".join(parts)

    def _values(self, spec: ArithSpec) -> list[int]:
        xs = [spec.start]
        for op in spec.ops:
            xs.append(apply_op(xs[-1], *op))
        return xs

    def answer(self, spec: ArithSpec) -> str:
        return str(self._values(spec)[-1])

    def difficulty(self, spec: ArithSpec) -> float:
        n = len(spec.ops)
        mult = sum(k in ("bags", "each", "mul", "split") for k, _, _ in spec.ops)
        return 0.7 * (n - 2) / 4 + 0.3 * min(1.0, mult / 3)

    def reasoning(self, spec: ArithSpec, rng: random.Random) -> Reasoning:
        return self._trace(spec, rng, error_at=None)

    def wrong_reasoning(self, spec: ArithSpec, rng: random.Random) -> Reasoning:
        # The slip happens at a random step and every later step builds on it correctly.
        return self._trace(spec, rng, error_at=rng.randrange(len(spec.ops)))

    def _trace(self, spec: ArithSpec, rng: random.Random, error_at: int | None) -> Reasoning:
        first = rng.choice(("{n} starts with {x} {it}.", "At the start {n} has {x} {it}."))
        lines = [first.format(n=spec.name, x=spec.start, it=spec.item)]
        x = spec.start
        for i, (kind, a, b) in enumerate(spec.ops):
            y = apply_op(x, kind, a, b)
            if i == error_at:
                y = _slip(y, x, rng)
            lines.append(_step_line(kind, a, b, x, y, rng))
            x = y
        truth = self.answer(spec)
        if error_at is not None and str(x) == truth:  # the slip cancelled out: miscount the end
            x += rng.choice((-1, 1)) if x > 1 else 1
            lines.append(f"So {spec.name} ends with {x} {spec.item}.")
        return Reasoning(tuple(lines), str(x))

    def distractors(self, spec: ArithSpec, rng: random.Random) -> list[str]:
        a = int(self.answer(spec))
        wrong = self.wrong_reasoning(spec, rng).answer
        near = [a + d for d in (1, -1, 2, -2, 10, -10, 5)]
        return pick_distinct([wrong] + [str(v) for v in near if v >= 0], str(a), 3, rng)

    def solve(self, question: str) -> str:
        m = _START_RE.match(question)
        if m is None:
            raise ValueError(f"not an arithmetic demo question: {question[:60]!r}")
        x = int(m.group(1))
        for sentence in _SENTENCE_RE.split(question[m.end():].strip()):
            x = _solve_sentence(sentence, x)
        return str(x)


def _slip(y: int, x: int, rng: random.Random) -> int:
    """A plausible arithmetic slip: off by one, two or ten (never equal to the truth)."""
    wrong = y + rng.choice((1, -1, 2, -2, 10, -10))
    return wrong if wrong >= 0 and wrong != y else y + 1


def _step_line(kind: str, a: int, b: int, x: int, y: int, rng: random.Random) -> str:
    """One reasoning line showing the computation ``x -> y`` (``y`` may be a slip)."""
    if kind in ("bags", "each"):
        t, sign = a * b, "+" if kind == "bags" else "-"
        what = (f"{a} bags of {b}" if kind == "bags" else f"Giving {a} to each of {b} friends")
        verb = rng.choice(("is", "makes")) if kind == "bags" else rng.choice(("uses", "takes"))
        return f"{what} {verb} {a} * {b} = {t}, so {x} {sign} {t} = {y}."
    templates = {
        "buy": ("Buying {a} more gives {x} + {a} = {y}.",
                "After buying {a} more: {x} + {a} = {y}."),
        "give": ("Giving away {a} leaves {x} - {a} = {y}.",
                 "After giving away {a}: {x} - {a} = {y}."),
        "mul": ("Multiplying by {a} gives {x} * {a} = {y}.", "Then {x} * {a} = {y}."),
        "split": ("Splitting into {a} jars gives {x} / {a} = {y}.",
                  "One jar holds {x} / {a} = {y}."),
    }
    return rng.choice(templates[kind]).format(a=a, x=x, y=y)


_START_RE = re.compile(r"[A-Z]\w+ has (\d+) \w+\.")
_SENTENCE_RE = re.compile(r"(?<=[.?!])\s+")
_OPS_RE = (
    (re.compile(r"(?:He|She) buys (\d+) more \w+\."), lambda x, a, b: x + a),
    (re.compile(r"(?:He|She) gives away (\d+) \w+\."), lambda x, a, b: x - a),
    (re.compile(r"(?:He|She) gets (\d+) bags with (\d+) \w+ in each\."), lambda x, a, b: x + a * b),
    (re.compile(r"(?:He|She) gives (\d+) \w+ to each of (\d+) friends\."),
     lambda x, a, b: x - a * b),
    (re.compile(r"(?:He|She) (doubles|triples) (?:his|her) \w+\."), lambda x, a, b: x * a),
    (re.compile(r"(?:He|She) splits (?:his|her) \w+ equally into (\d+) jars"),
     lambda x, a, b: x // a),
)


def _solve_sentence(sentence: str, x: int) -> int:
    for pattern, fn in _OPS_RE:
        m = pattern.match(sentence)
        if m:
            nums = [{"doubles": 2, "triples": 3}.get(g) or int(g) for g in m.groups()]
            return fn(x, nums[0], nums[1] if len(nums) > 1 else 0)
    return x  # the question sentence and instructions change nothing
