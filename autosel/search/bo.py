"""Strategies: :class:`GPStrategy` (warmup → GP-ranked local edits → reseeding) and random search.

One ask of :class:`GPStrategy`:

1. realize every evaluated and pending recipe (cached); their fingerprints are never
   proposed again, whatever the outcome (failed and infeasible included);
2. while fewer than ``n_warmup`` trials exist (or fewer than two succeeded): user seed
   recipes first (origin ``baseline``), then spread-out probes (``warmup``) chosen by
   greedy max-min distance in realized-state space. Without user seeds the probes are
   chosen among the *default anchors* (the full pool and every operator alone at its
   defaults, ``SearchKnobs.default_seeds``), else among a scrambled Sobol set. Why
   anchors: Sobol points decode to multi-step recipes with random params, and most of
   them realize tiny or poor subsets (on the synthetic benchmark the probes were
   100-row subsets and a 7%-IFD filter, utility -1.97), while single operators at their
   recommended settings are the recipes a practitioner would try first (SMAC and other
   HPO tools evaluate the default configuration first for the same reason); max-min in
   state space then favours the anchors that change the subset most;
3. otherwise fit the GP on successful trials only (their ``noise_var`` as known noise
   when every one has it, ``SearchKnobs.gp_noise``), draw ``n_candidates`` local edits of
   the best ``n_parents`` recipes of the current trajectory (parameter perturbations at
   several scales, ``SearchKnobs.perturb_scales``), the default anchors not evaluated
   yet, and ``n_random`` short random recipes (geometric length,
   :meth:`RecipeSpace.short_recipe`), realize them, drop infeasible / already seen
   fingerprints and pick the best ``n`` by qLogNEI, greedily: each pick joins
   ``X_pending`` before the next one is scored. The GP sees the realized state vector
   only by default (``SearchKnobs.features``): with 5-50 points, 60 operator-slot
   dimensions drown the dozen state features that actually predict utility (size,
   quality signal quantiles, duplicate rate, mix divergence), and two recipes that
   select similar subsets should look alike whatever operators they use;
4. after a reseed (see :mod:`autosel.search.trajectory`) the neighbourhood moves: odd
   trajectories restart from the best evaluated recipe far (in state space) from the
   incumbent, even ones from a fresh space-filling Sobol draw (origin ``reseed``).

Cost of an ask: realizing the candidates (~2 ms each on a 1.5k-row pool; cached by
recipe hash in the space, so a warm strategy only realizes new edits), one GP fit
capped at ``fit_maxiter`` L-BFGS-B iterations, and one acquisition pass per pick. The
Sobol set is realized once per strategy object, and only when a reseed or a seeded
warmup needs it.

Every draw uses a generator seeded from (search seed, number of trials, number pending,
purpose), so the same seed, history and pending jobs give the same proposals; the budget
only decides when the search stops (and the default number of warmup probes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autosel.recipes import Recipe
from autosel.search import gp
from autosel.search.edits import propose_edits
from autosel.search.space import Realized, RecipeSpace
from autosel.search.strategy import (
    Candidate,
    SearchKnobs,
    TrialResult,
    derive_seed,
    remaining,
    rng_for,
)
from autosel.search.trajectory import Trajectories, replay
from autosel.search.warmup import maxmin_select, normalise_states, sobol_points

RETAIN_WEIGHT = 4.0  # retain ratio counts this much more than other state features in spreads


def _recipes(pending: Sequence[Recipe | Candidate]) -> list[Recipe]:
    return [p.recipe if isinstance(p, Candidate) else p for p in pending]


def _candidate(
    r: Realized,
    space: RecipeSpace,
    origin: str,
    trajectory: int,
    mean: float | None = None,
    std: float | None = None,
    acq: float | None = None,
) -> Candidate:
    return Candidate(
        r.recipe,
        r.recipe_hash,
        r.fingerprint,
        r.state,
        space.state_names,
        r.size,
        mean,
        std,
        acq,
        origin,
        trajectory,
    )


class _Base:
    def __init__(self, space: RecipeSpace, knobs: SearchKnobs | None = None) -> None:
        self.space = space
        self.knobs = knobs or SearchKnobs()

    def _seen(self, history: Sequence[TrialResult], pending: list[Recipe]) -> set[str]:
        self.space.register([t.recipe for t in history] + pending)
        seen = {t.fingerprint for t in history if t.fingerprint}
        for r in [t.recipe for t in history] + pending:
            seen.add(self.space.realize(r).fingerprint or r.recipe_hash)
        return seen

    def _fresh(
        self, recipes: Sequence[tuple[Recipe, str]], seen: set[str]
    ) -> list[tuple[Realized, str]]:
        """Realize, keep feasible recipes with an unseen fingerprint (first occurrence wins)."""
        out = []
        for recipe, origin in recipes:
            r = self.space.realize(recipe)
            if r.feasible and r.fingerprint not in seen:
                seen.add(r.fingerprint)
                out.append((r, origin))
        return out


class RandomStrategy(_Base):
    """Uniformly random recipes (deduplicated by fingerprint): the baseline to beat."""

    def ask(
        self, history: Sequence[TrialResult], pending: Sequence[Recipe | Candidate], n: int
    ) -> list[Candidate]:
        k = remaining(self.knobs, history, pending, n)
        seen = self._seen(history, _recipes(pending))
        rng = rng_for(self.knobs.seed, len(history), len(pending), "random")
        out: list[Candidate] = []
        for _ in range(50 * max(k, 1)):
            if len(out) >= k:
                break
            for r, origin in self._fresh([(self.space.random_recipe(rng), "random")], seen):
                out.append(_candidate(r, self.space, origin, 0))
        return out


class GPStrategy(_Base):
    """The autosel search. See the module docstring.

    Args:
        space: the recipe space of the pool.
        knobs: algorithm knobs (seed included).
        seed_recipes: recipes evaluated first, in order (e.g. the full pool, dedup only).
    """

    def __init__(
        self,
        space: RecipeSpace,
        knobs: SearchKnobs | None = None,
        seed_recipes: Sequence[Recipe] = (),
    ) -> None:
        super().__init__(space, knobs)
        self.seed_recipes = list(seed_recipes)
        self._sobol: list[Realized] | None = None
        # What the last asks had to say beyond their candidates (e.g. a failed GP fit and
        # the fallback taken): the scheduler drains it into the search's events.
        self.notes: list[dict[str, object]] = []

    # ----- warmup ---------------------------------------------------------------------
    def _sobol_set(self) -> list[Realized]:
        """The feasible realized Sobol candidate set (fixed for the search seed)."""
        if self._sobol is None:
            pts = sobol_points(
                self.space.unit_dim, self.knobs.n_sobol, derive_seed(self.knobs.seed, "sobol")
            )
            reals = [self.space.realize(self.space.from_unit(u)) for u in pts]
            self._sobol = [r for r in reals if r.feasible]
        return self._sobol

    def _spread(
        self, k: int, fixed: list[Realized], seen: set[str], among: list[Realized] | None = None
    ) -> list[Realized]:
        """Greedy max-min probes in realized-state space, from ``among`` or the Sobol set."""
        pool = [
            r
            for r in (among if among is not None else self._sobol_set())
            if r.fingerprint not in seen
        ]
        if not pool or k <= 0:
            return []
        states = np.stack([r.state for r in pool] + [r.state for r in fixed])
        norm = normalise_states(states)
        w = np.ones(states.shape[1])
        w[list(self.space.state_names).index("retain_ratio")] = RETAIN_WEIGHT
        picked = maxmin_select(norm[: len(pool)], k, fixed=norm[len(pool) :], weights=w)
        return [pool[i] for i in picked]

    def _anchors(self) -> list[Recipe]:
        """Default recipes used when the user gave no seeds (see ``SearchKnobs.default_seeds``)."""
        if self.seed_recipes or not self.knobs.default_seeds:
            return []
        return self.space.default_recipes()

    def _warmup(
        self, k: int, history: Sequence[TrialResult], pending: list[Recipe], seen: set[str]
    ) -> list[Candidate]:
        out = [
            _candidate(r, self.space, "baseline", 0)
            for r, _ in self._fresh([(s, "baseline") for s in self.seed_recipes], seen)
        ][:k]
        fixed = [self.space.realize(r) for r in [t.recipe for t in history] + pending]
        fixed = [r for r in fixed if r.feasible] + [self.space.realize(c.recipe) for c in out]
        anchors = self.space.distinct_subsets(self._anchors(), exclude=seen)
        for r in self._spread(k - len(out), fixed, seen, anchors or None):
            seen.add(r.fingerprint)
            out.append(_candidate(r, self.space, "warmup", 0))
        return out

    # ----- reseeding ------------------------------------------------------------------
    def _parents(
        self, history: Sequence[TrialResult], traj: Trajectories, pending: list[Recipe]
    ) -> tuple[list[Recipe], Realized | None]:
        """Edit parents of the current trajectory, and the reseed probe still to propose."""
        ok = [(t.score, -i, t.recipe) for i, t in enumerate(history) if t.ok]
        if traj.trajectory == 0:
            return [r for *_, r in sorted(ok, reverse=True)[: self.knobs.n_parents]], None
        prefix = history[: traj.start]
        own = sorted(
            ((t.score, -i, t.recipe) for i, t in enumerate(history) if t.ok and i >= traj.start),
            reverse=True,
        )
        anchor, probe = self._anchor(prefix, traj)
        parents = [r for *_, r in own[: self.knobs.n_parents]]
        if anchor is not None and all(anchor.recipe_hash != p.recipe_hash for p in parents):
            parents = [anchor, *parents][: self.knobs.n_parents]
        if probe is not None:
            issued = {r.recipe_hash for r in pending} | {
                t.recipe_hash for t in history[traj.start :]
            }
            parents = [probe.recipe, *parents][: self.knobs.n_parents]
            if probe.recipe_hash in issued:
                probe = None
        return parents, probe

    def _anchor(
        self, prefix: Sequence[TrialResult], traj: Trajectories
    ) -> tuple[Recipe | None, Realized | None]:
        """Odd trajectories: a distant good recipe; even ones: a fresh space-filling draw."""
        ok = [t for t in prefix if t.ok]
        if traj.trajectory % 2 == 1 and len(ok) >= 3:
            states = normalise_states(np.stack([self.space.realize(t.recipe).state for t in ok]))
            best = max(range(len(ok)), key=lambda i: (ok[i].score, -i))
            dist = np.sqrt(((states - states[best]) ** 2).sum(-1))
            far = [i for i in range(len(ok)) if dist[i] >= np.median(dist) and i != best]
            if far:
                return ok[max(far, key=lambda i: (ok[i].score, -i))].recipe, None
        seen = {self.space.realize(t.recipe).fingerprint for t in prefix}
        draw = self._spread(1, [self.space.realize(t.recipe) for t in ok], seen)
        return None, (draw[0] if draw else None)

    # ----- ask ------------------------------------------------------------------------
    def ask(
        self, history: Sequence[TrialResult], pending: Sequence[Recipe | Candidate], n: int
    ) -> list[Candidate]:
        """Up to ``n`` candidates (``n`` = free workers), best first. See the module docstring."""
        k = remaining(self.knobs, history, pending, n)
        if k == 0:
            return []
        pend = _recipes(pending)
        seen = self._seen(history, pend)
        n_ok = sum(t.ok for t in history)
        n_warm = self.knobs.warmup - len(history) - len(pend)
        if n_ok < 2:
            return self._warmup(k, history, pend, seen)
        out = self._warmup(min(k, n_warm), history, pend, seen) if n_warm > 0 else []
        if len(out) < k:
            out += self._ranked(k - len(out), history, pend + [c.recipe for c in out], seen)
        return out

    def _ranked(
        self, k: int, history: Sequence[TrialResult], pending: list[Recipe], seen: set[str]
    ) -> list[Candidate]:
        knobs, space = self.knobs, self.space
        traj = replay(history, warmup=knobs.warmup, patience=knobs.patience)
        parents, probe = self._parents(history, traj, pending)
        rng = rng_for(knobs.seed, len(history), len(pending), "edits")
        others = sorted({t.recipe_hash for t in history if t.ok})
        edits = propose_edits(
            [space.steps_of(p) for p in parents],
            space.edit_space,
            rng,
            knobs.n_candidates,
            moves=knobs.edit_moves,
            sigma=knobs.sigma,
            others=others,
            scales=knobs.perturb_scales,
        )
        pool = [(space.make(s), f"edit:{m}") for s, m, _ in edits]
        pool += [(r, "default") for r in self._anchors()]
        pool += [(space.short_recipe(rng, knobs.p_more), "random") for _ in range(knobs.n_random)]
        out: list[Candidate] = []
        if probe is not None and probe.fingerprint not in seen:
            seen.add(probe.fingerprint)
            out.append(_candidate(probe, space, "reseed", traj.trajectory))
        cands = self._fresh(pool, seen)
        if not cands or len(out) >= k:
            return out[:k]
        ok = [t for t in history if t.ok]
        f = knobs.features
        X = np.stack([space.encode(space.realize(t.recipe), f) for t in ok])
        Y = np.array([t.score for t in ok], dtype=np.float64)
        fit_seed = derive_seed(knobs.seed, len(history), "fit")
        model = gp.fit_surrogate(
            X,
            Y,
            Yvar=_known_noise(ok, knobs),
            extra_noise=knobs.gp_noise == "known+learned",
            seed=fit_seed,
            maxiter=knobs.fit_maxiter,
        )
        failure = gp.fit_failure(model)
        if failure is not None:
            # A GP left at its prior ranks candidates arbitrarily: say so, and pick the
            # candidates that spread the evaluated states most instead (origin fallback).
            fixed = [space.realize(t.recipe) for t in history] + [
                space.realize(r) for r in pending
            ]
            fixed = [r for r in fixed if r.feasible] + [space.realize(c.recipe) for c in out]
            picks = self._spread(k - len(out), fixed, set(), [r for r, _ in cands])
            self.notes.append(
                {
                    "kind": "gp_fit_failed",
                    "reason": failure,
                    "points": len(ok),
                    "fallback": "spread",
                    "proposed": len(picks),
                }
            )
            out += [_candidate(r, space, "fallback:spread", traj.trajectory) for r in picks]
            return out
        Xc = np.stack([space.encode(r, f) for r, _ in cands])
        mean, std = gp.predict(model, Xc)
        Xp = [space.encode(space.realize(r), f) for r in pending] + [
            space.encode(space.realize(c.recipe), f) for c in out
        ]
        alive = np.ones(len(cands), dtype=bool)
        while len(out) < k and alive.any():
            acq = gp.build_acquisition(model, X, np.stack(Xp) if Xp else None, seed=fit_seed)
            vals = gp.score_candidates(acq, Xc, seed=fit_seed)
            vals[~alive] = -np.inf
            i = int(np.argmax(vals))  # ties: lowest index, i.e. generation order
            alive[i] = False
            r, origin = cands[i]
            out.append(
                _candidate(
                    r, space, origin, traj.trajectory, float(mean[i]), float(std[i]), float(vals[i])
                )
            )
            Xp.append(Xc[i])
        return out


def _known_noise(ok: Sequence[TrialResult], knobs: SearchKnobs) -> np.ndarray | None:
    """The fitted trials' ``noise_var`` (`n`), or ``None`` for a learned noise.

    All or nothing: a GP with known noise on some points and none on others has no
    consistent likelihood, so one trial without ``noise_var`` (e.g. from a history
    recorded before noise was measured) makes the whole fit learn its noise.
    """
    if knobs.gp_noise == "learned" or any(t.noise_var is None for t in ok):
        return None
    return np.array([t.noise_var for t in ok], dtype=np.float64)
