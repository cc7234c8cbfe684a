"""Date arithmetic (source ``dates``): a date plus N days, and days between two dates.

The reasoning walks month by month (``February 2024 has 29 days, so ...``). A wrong
reasoning uses a wrong month length once (the leap-year or 30/31 slip) or miscounts the
last stretch by one day. Difficulty grows with the month boundaries crossed, February
crossings and the number of days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from autosel.pool.demo.base import Domain, Reasoning, pick_distinct

FIRST_DAY = dt.date(2000, 1, 1).toordinal()
LAST_DAY = dt.date(2030, 12, 31).toordinal()
DAY_RANGES = ((2, 27), (28, 80), (81, 160))

MonthLen = Callable[[int, int], int]


@dataclass(frozen=True)
class DateSpec:
    start: dt.date
    days: int
    between: bool  # True: "how many days from A to B"; False: "what date is N days after A"

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)


def month_len(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _month_name(d: dt.date) -> str:
    return f"{calendar.month_name[d.month]} {d.year}"


def _crossings(spec: DateSpec) -> list[dt.date]:
    """First days of the months entered between start (excluded) and end (included)."""
    out, d = [], _next_month(spec.start)
    while d <= spec.end:
        out.append(d)
        d = _next_month(d)
    return out


class Dates(Domain):
    name = "dates"

    def sample(self, rng: random.Random) -> DateSpec:
        lo, hi = rng.choice(DAY_RANGES)
        days = rng.randint(lo, hi)
        start = dt.date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY - days))
        return DateSpec(start, days, rng.random() < 0.4)

    def task(self, spec: DateSpec) -> str:
        return "days_between" if spec.between else "add_days"

    def question(self, spec: DateSpec) -> str:
        if spec.between:
            return (f"How many days are there from {spec.start.isoformat()} "
                    f"to {spec.end.isoformat()}?")
        return (f"What date is {spec.days} days after {spec.start.isoformat()}? "
                "Give the date as YYYY-MM-DD.")

    def answer(self, spec: DateSpec) -> str:
        return str(spec.days) if spec.between else spec.end.isoformat()

    def difficulty(self, spec: DateSpec) -> float:
        cross = _crossings(spec)
        feb = any(d.month == 3 for d in cross)  # a February was walked through
        return 0.5 * min(len(cross), 6) / 6 + 0.3 * feb + 0.2 * min(spec.days, 160) / 160

    def reasoning(self, spec: DateSpec, rng: random.Random) -> Reasoning:
        return _walk(spec, month_len, 0, rng)

    def wrong_reasoning(self, spec: DateSpec, rng: random.Random) -> Reasoning:
        cross = _crossings(spec)
        if not cross:  # nothing to misjudge but the last stretch: count it one off
            return _walk(spec, month_len, rng.choice((-1, 1)), rng)
        bad = rng.choice(cross)
        bad_year, bad_month = (bad.year, bad.month - 1) if bad.month > 1 else (bad.year - 1, 12)
        true_len = month_len(bad_year, bad_month)
        # February is the leap-year slip; other months are the 30/31 slip.
        wrong_len = {28: 29, 29: 28, 30: 31, 31: 30}[true_len]

        def slipped(y: int, m: int) -> int:
            return wrong_len if (y, m) == (bad_year, bad_month) else month_len(y, m)

        r = _walk(spec, slipped, 0, rng)
        if r.answer == self.answer(spec):  # the slip fell where it changes nothing
            return _walk(spec, month_len, rng.choice((-1, 1)), rng)
        return r

    def distractors(self, spec: DateSpec, rng: random.Random) -> list[str]:
        wrong = self.wrong_reasoning(spec, rng).answer
        if spec.between:
            near = [str(spec.days + d) for d in (1, -1, 2, 7) if spec.days + d >= 1]
        else:
            e = spec.end
            near = [(e + dt.timedelta(days=d)).isoformat() for d in (1, -1, 2, 7)]
            if e.day <= 28:
                near.append(_shift_month(e).isoformat())
        return pick_distinct([wrong, *near], self.answer(spec), 3, rng)

    def solve(self, question: str) -> str:
        dates = [dt.date.fromisoformat(x) for x in re.findall(r"\d{4}-\d{2}-\d{2}", question)]
        m = re.search(r"What date is (\d+) days after", question)
        if m and len(dates) == 1:
            return (dates[0] + dt.timedelta(days=int(m.group(1)))).isoformat()
        if "How many days" in question and len(dates) == 2:
            return str((dates[1] - dates[0]).days)
        raise ValueError(f"not a dates demo question: {question[:60]!r}")


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _shift_month(d: dt.date) -> dt.date:
    nxt = _next_month(d)
    return dt.date(nxt.year, nxt.month, d.day)


def _walk(spec: DateSpec, mlen: MonthLen, last_slip: int, rng: random.Random) -> Reasoning:
    """Walk month by month with month lengths ``mlen``; the last stretch is off by ``last_slip``."""
    s = spec.start
    if spec.between:
        lines = [rng.choice((f"Count the days from {s.isoformat()} to {spec.end.isoformat()}.",
                             f"Go month by month from {s.isoformat()}."))]
        return _walk_between(spec, mlen, last_slip, lines)
    lines = [rng.choice((f"Start at {s.isoformat()} and add {spec.days} days.",
                         f"Add {spec.days} days to {s.isoformat()} month by month."))]
    return _walk_add(spec, mlen, last_slip, lines)


def _walk_add(spec: DateSpec, mlen: MonthLen, last_slip: int, lines: list[str]) -> Reasoning:
    left, d = spec.days, spec.start
    while (step := mlen(d.year, d.month) - d.day + 1) <= left:  # days to the next 1st
        nxt = _next_month(d)
        lines.append(f"{_month_name(d)} has {mlen(d.year, d.month)} days, so {nxt.isoformat()} "
                     f"is {_days(step)} after {d.isoformat()}; {left} - {step} = {left - step} "
                     "remaining.")
        left, d = left - step, nxt
    end = d + dt.timedelta(days=left + last_slip)
    lines.append(f"Adding {_days(left)} more to {d.isoformat()} gives {end.isoformat()}.")
    return Reasoning(tuple(lines), end.isoformat())


def _walk_between(spec: DateSpec, mlen: MonthLen, last_slip: int, lines: list[str]) -> Reasoning:
    # The segments are summed from month lengths, so a wrong length shows in the total.
    total, d = 0, spec.start
    for nxt in _crossings(spec):
        step = mlen(d.year, d.month) - d.day + 1
        total += step
        lines.append(f"{_month_name(d)} has {mlen(d.year, d.month)} days, so from {d.isoformat()} "
                     f"to {nxt.isoformat()} is {_days(step)} (running total {total}).")
        d = nxt
    last = (spec.end - d).days + last_slip
    lines.append(f"From {d.isoformat()} to {spec.end.isoformat()} is {_days(last)}, "
                 f"so the total is {total} + {last} = {total + last}.")
    return Reasoning(tuple(lines), str(total + last))
