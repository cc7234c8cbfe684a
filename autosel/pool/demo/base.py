"""What every demo domain provides, and the pieces of a response they share.

A domain samples a structured *spec* (a problem), renders its question, its reference
answer and a step-by-step reasoning, renders a *wrong* reasoning (a mistake made
mid-way and carried to a wrong final answer), proposes plausible wrong answers for
benchmark choices, and can re-solve a question from its text alone (``solve``), so
tests check the generated answers against an independent solver.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

FINAL_PREFIX = "Final answer: "

# Opening lines vary the responses to one prompt (several responses per prompt must differ).
OPENINGS = (
    "",
    "",
    "Let's work through it step by step.",
    "Let me solve this carefully.",
    "We go one step at a time.",
    "Here is the reasoning.",
)


@dataclass(frozen=True)
class Problem:
    """One sampled problem: its question, reference answer and difficulty in [0, 1]."""

    domain: str
    task: str
    question: str
    answer: str
    difficulty: float
    spec: Any


@dataclass(frozen=True)
class Reasoning:
    """Reasoning lines (without the final line) and the final answer they arrive at."""

    lines: tuple[str, ...]
    answer: str


class Domain(ABC):
    """A reasoning domain with verifiable answers (one pool ``source``)."""

    name: str

    def problem(self, rng: random.Random) -> Problem:
        """Sample one problem."""
        spec = self.sample(rng)
        return Problem(
            domain=self.name,
            task=self.task(spec),
            question=self.question(spec),
            answer=self.answer(spec),
            difficulty=round(min(1.0, max(0.0, self.difficulty(spec))), 4),
            spec=spec,
        )

    @abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """Draw a structured problem spec."""

    @abstractmethod
    def task(self, spec: Any) -> str:
        """The question type within the domain (e.g. ``shortest_path``)."""

    @abstractmethod
    def question(self, spec: Any) -> str:
        """The user message (a pure function of the spec)."""

    @abstractmethod
    def answer(self, spec: Any) -> str:
        """The short reference answer."""

    @abstractmethod
    def difficulty(self, spec: Any) -> float:
        """Difficulty in [0, 1] from the problem's real complexity."""

    @abstractmethod
    def reasoning(self, spec: Any, rng: random.Random) -> Reasoning:
        """A correct step-by-step reasoning; ``rng`` only varies its phrasing."""

    @abstractmethod
    def wrong_reasoning(self, spec: Any, rng: random.Random) -> Reasoning:
        """A reasoning that goes wrong mid-way; its answer differs from the reference."""

    @abstractmethod
    def distractors(self, spec: Any, rng: random.Random) -> list[str]:
        """Plausible wrong answers (neighbouring values), none equal to the answer."""

    @abstractmethod
    def solve(self, question: str) -> str:
        """Re-solve a question from its text alone (independent of the generator)."""


def render(reasoning: Reasoning, rng: random.Random) -> str:
    """Join an optional opening line, the reasoning lines and the final answer line."""
    opening = rng.choice(OPENINGS)
    lines = ([opening] if opening else []) + list(reasoning.lines)
    lines.append(FINAL_PREFIX + reasoning.answer)
    return "\n".join(lines)


def final_answer(response: str) -> str | None:
    """The answer on the response's last line, or None when it has no final-answer line."""
    last = response.rstrip("\n").rsplit("\n", 1)[-1]
    return last[len(FINAL_PREFIX):] if last.startswith(FINAL_PREFIX) else None


def pick_distinct(candidates: list[str], answer: str, k: int, rng: random.Random) -> list[str]:
    """``k`` distinct candidates different from ``answer``, earlier candidates preferred.

    The first candidate (usually a real wrong-reasoning answer) is always kept; the
    others are shuffled so that the choices do not follow one fixed pattern.
    """
    seen = {answer}
    unique: list[str] = []
    for c in candidates:
        if c not in seen:
            seen.add(c)
            unique.append(c)
    head, tail = unique[:1], unique[1:]
    rng.shuffle(tail)
    return (head + tail)[:k]
