"""Search benchmark on the synthetic objective (autosel.evaluation.synthetic; no GPU).

Simple regret = U* - U(recipe with the best observed score), with U* the best true utility
found by an oracle (thousands of random + Sobol recipes plus hill climbing on the noise-free
utility) or by any method in this run. Methods drive the same recipe space:

- autosel: GPStrategy; random: RandomStrategy (random recipes);
- random_topk: one random_sample step with a random fraction (random subsets);
- hes_topk: the best single-operator selector, top-f HES on an even grid of f;
- optuna_tpe / optuna_gp: optuna samplers over the unit-cube layout of RecipeSpace.from_unit.

Usage: python benchmarks/search.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import operators  # noqa: F401 - registers operators
from autosel.evaluation.synthetic import make_problem
from autosel.recipes import Recipe
from autosel.search import GPStrategy, RandomStrategy, RecipeSpace, SearchKnobs, TrialResult

MIN_SIZE = 100


def drive(strategy, space, prob, budget):
    hist = []
    while len(hist) < budget:
        cands = strategy.ask(hist, [], 1)
        if not cands:
            break
        r = space.realize(cands[0].recipe)
        hist.append(TrialResult(r.recipe, prob.evaluate(r.indices, r.fingerprint)))
    return [(t.score, space.realize(t.recipe).indices) for t in hist]


def fixed_recipes(recipes, space, prob):
    out = []
    for rec in recipes:
        r = space.realize(rec)
        out.append((prob.evaluate(r.indices, r.fingerprint), r.indices) if r.feasible
                   else (-3.0, r.indices))
    return out


def optuna_run(sampler_name, space, prob, budget, seed):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
               else optuna.samplers.GPSampler(seed=seed))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    trials = []
    for _ in range(budget):
        t = study.ask()
        u = np.array([t.suggest_float(f"u{j}", 0.0, 1.0) for j in range(space.unit_dim)])
        r = space.realize(space.from_unit(u))
        # An infeasible recipe still costs a trial (optuna cannot know it beforehand).
        s = prob.evaluate(r.indices, r.fingerprint) if r.feasible else -3.0
        study.tell(t, s)
        trials.append((s, r.indices))
    return trials


def oracle(space, prob, seed=0, n=3000, climb=1500):
    from autosel.search.edits import propose_edits
    rng = np.random.default_rng(seed)
    best = []
    for _ in range(n):
        r = space.realize(space.random_recipe(rng))
        if r.feasible:
            best.append((prob.utility(r.indices), r.recipe))
    best.sort(key=lambda x: -x[0])
    top = best[:5]
    for _ in range(climb // 50):
        new = []
        for u, rec in top:
            for steps, _, _ in propose_edits([space.steps_of(rec)], space.edit_space, rng, 50):
                r = space.realize(space.make(steps))
                if r.feasible:
                    new.append((prob.utility(r.indices), r.recipe))
        top = sorted(top + new, key=lambda x: -x[0])[:5]
    return top[0][0]


def run(seeds, budgets, pool_size):
    prob = make_problem(pool_size, seed=0)
    results = {}
    methods = ["autosel", "random", "random_topk", "hes_topk", "optuna_tpe", "optuna_gp"]
    for b in budgets:
        for seed in seeds:
            space = RecipeSpace(prob.pool, prob.signals, min_size=MIN_SIZE)
            rng = np.random.default_rng(seed)
            knobs = SearchKnobs(budget=b, seed=seed)
            runs = {
                "autosel": lambda: drive(GPStrategy(space, knobs), space, prob, b),
                "random": lambda: drive(RandomStrategy(space, knobs), space, prob, b),
                "random_topk": lambda: fixed_recipes(
                    [Recipe.of(("random_sample", {"fraction": float(rng.uniform(0.05, 1))}))
                     for _ in range(b)], space, prob),
                "hes_topk": lambda: fixed_recipes(
                    [Recipe.of(("hes_filter", {"fraction": float(f)}))
                     for f in np.linspace(0.05, 1.0, b)], space, prob),
                "optuna_tpe": lambda: optuna_run("tpe", space, prob, b, seed),
                "optuna_gp": lambda: optuna_run("gp", space, prob, b, seed),
            }
            for m in methods:
                trials = runs[m]()
                pick = max(trials, key=lambda t: t[0])
                results[(m, b, seed)] = prob.utility(pick[1])
                results[("best", b, seed, m)] = max(prob.utility(t[1]) for t in trials)
        print(f"budget {b} done", flush=True)
    return prob, methods, results


def ask_time(prob, n_trials=50):
    space = RecipeSpace(prob.pool, prob.signals, min_size=MIN_SIZE)
    rng = np.random.default_rng(123)
    hist = []
    while len(hist) < n_trials:
        r = space.realize(space.random_recipe(rng))
        if r.feasible:
            hist.append(TrialResult(r.recipe, prob.evaluate(r.indices, r.fingerprint)))
    s = GPStrategy(space, SearchKnobs(budget=n_trials + 10, seed=0))
    times = []
    for extra in range(3):  # fresh histories each time: realizations of new edits included
        t0 = time.perf_counter()
        s.ask(hist[: n_trials - extra], [], 1)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seeds = list(range(5 if args.quick else 20))
    budgets = [15] if args.quick else [10, 15, 25]
    t0 = time.time()
    prob, methods, res = run(seeds, budgets, 1500 if args.quick else 3000)
    space = RecipeSpace(prob.pool, prob.signals, min_size=MIN_SIZE)
    u_star = max(oracle(space, prob), max(v for k, v in res.items() if k[0] == "best"))
    print(f"\nU* = {u_star:.4f}; seeds={len(seeds)}; pool={len(prob.pool)}; min_size={MIN_SIZE}")
    print(f"{'method':<12}" + "".join(f"  b={b:<3} median [IQR]      " for b in budgets))
    med = {}
    for m in methods:
        row = f"{m:<12}"
        for b in budgets:
            reg = np.array([u_star - res[(m, b, s)] for s in seeds])
            q1, q2, q3 = np.percentile(reg, [25, 50, 75])
            med[(m, b)] = q2
            row += f"  {q2:.4f} [{q1:.4f}, {q3:.4f}]  "
        print(row)
    ask_s = ask_time(prob)
    b = 15

    def target(name, num, den, limit):
        ratio = med[(num, b)] / max(med[(den, b)], 1e-12)
        ok = ratio <= limit if limit == 0.5 else ratio < limit
        sign = "<=" if limit == 0.5 else "<"
        print(f"TARGET {name} measured={ratio:.3f} target={sign}{limit:g} {'PASS' if ok else 'FAIL'}")

    print(f"(total {time.time() - t0:.0f}s)")
    target("regret_vs_random_b15", "autosel", "random", 0.5)
    target("regret_vs_optuna_tpe_b15", "autosel", "optuna_tpe", 1)
    target("regret_vs_optuna_gp_b15", "autosel", "optuna_gp", 1)
    print(f"TARGET ask_seconds_at_50 measured={ask_s:.2f} target=<3 {'PASS' if ask_s < 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
