"""The surrogate's noise model: learned, known (``train_Yvar``), known plus learned."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from autosel.errors import ConfigError
from autosel.recipes import Recipe
from autosel.search import GPStrategy, SearchKnobs, TrialResult, gp
from tests.search.conftest import run_search


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    Y = np.sin(6 * X[:, 0]) + 0.5 * X[:, 1]
    return X, Y


def test_without_yvar_the_noise_is_learned():
    from gpytorch.likelihoods import FixedNoiseGaussianLikelihood, GaussianLikelihood

    X, Y = _data()
    model = gp.fit_surrogate(X, Y, seed=0, maxiter=50)
    assert isinstance(model.likelihood, GaussianLikelihood)
    assert not isinstance(model.likelihood, FixedNoiseGaussianLikelihood)
    mean, std = gp.predict(model, X)
    assert np.corrcoef(mean, Y)[0, 1] > 0.9 and (std > 0).all()


def test_known_noise_is_fixed_and_standardised_with_y():
    from gpytorch.likelihoods import FixedNoiseGaussianLikelihood

    X, Y = _data()
    yvar = np.full(len(Y), 1e-3)
    yvar[0] = 4e-3  # heteroskedastic: per trial
    model = gp.fit_surrogate(X, Y, Yvar=yvar, seed=0, maxiter=50)
    lik = model.likelihood
    assert isinstance(lik, FixedNoiseGaussianLikelihood) and lik.second_noise_covar is None
    # botorch's Standardize divides Yvar by the sample variance (ddof=1) of Y
    noise = lik.noise_covar.noise.detach().reshape(-1).numpy()
    assert np.allclose(noise, yvar / Y.var(ddof=1))
    # small known noise: the posterior goes through the observations
    mean, std = gp.predict(model, X)
    assert np.abs(mean - Y).max() < 0.1 and (std < 0.1).all()
    assert np.isfinite(gp.predict(model, np.random.default_rng(1).uniform(size=(5, 2)))[0]).all()


def test_large_known_noise_shrinks_the_posterior_towards_the_mean():
    X, Y = _data()
    small = gp.predict(gp.fit_surrogate(X, Y, Yvar=np.full(len(Y), 1e-4), maxiter=50), X)[0]
    large = gp.predict(gp.fit_surrogate(X, Y, Yvar=np.full(len(Y), 10 * Y.var()), maxiter=50), X)[0]
    # observations ten times noisier than their spread say little about any one point
    assert np.abs(large - Y.mean()).max() < 0.5 * np.abs(small - Y.mean()).max()


def test_known_plus_learned_noise_adds_a_fitted_variance():
    X, Y = _data(40)
    rng = np.random.default_rng(3)
    known = np.full(len(Y), 1e-4)

    def extra(y):
        model = gp.fit_surrogate(X, y, Yvar=known, extra_noise=True, maxiter=50)
        assert model.likelihood.second_noise_covar is not None
        assert np.isfinite(gp.predict(model, X)[0]).all()
        return float(model.likelihood.second_noise.detach().reshape(-1)[0])

    # scores far noisier (sd 0.3) than the known variance admits: the fit finds the
    # missing variance (standardised: 0.09 / var(Y) = 0.12), and none on clean scores
    noisy = Y + rng.normal(0, 0.3, size=len(Y))
    assert extra(noisy) == pytest.approx(0.09 / noisy.var(ddof=1), rel=0.5)
    assert extra(Y) < 0.01


def test_bad_yvar_is_an_error():
    X, Y = _data()
    with pytest.raises(ValueError, match="Yvar must hold 12 finite variances"):
        gp.fit_surrogate(X, Y, Yvar=np.full(11, 1e-3))
    with pytest.raises(ValueError, match="Yvar must hold"):
        gp.fit_surrogate(X, Y, Yvar=-np.ones(12))


def test_a_failed_fit_is_logged_not_hidden(monkeypatch, caplog):
    import botorch.fit
    from botorch.exceptions.errors import ModelFittingError

    def fail(*args, **kwargs):
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", fail)
    X, Y = _data()
    with caplog.at_level(logging.WARNING, logger="autosel.search"):
        model = gp.fit_surrogate(X, Y)
    assert "GP fit on 12 points failed (ModelFittingError" in caplog.text
    assert np.isfinite(gp.predict(model, X)[0]).all()  # the prior-initialised model

    def bug(*args, **kwargs):
        raise TypeError("a programming error")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", bug)
    with pytest.raises(TypeError):  # anything else is not swallowed
        gp.fit_surrogate(X, Y)


def test_trial_noise_var_validated():
    r = Recipe.of(("exact_dedup", {}))
    assert TrialResult(r, 0.5, noise_var=0.01).noise_var == 0.01
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="noise_var"):
            TrialResult(r, 0.5, noise_var=bad)


@pytest.mark.parametrize(
    ("mode", "noise", "expect"),
    [
        ("known", 0.01, "known"),
        ("known", None, None),  # a trial without noise_var: learned
        ("known+learned", 0.01, "extra"),
        ("learned", 0.01, None),
    ],
)
def test_strategy_passes_known_noise_only_when_every_trial_has_it(
    monkeypatch, problem, space, mode, noise, expect
):
    seen = []
    fit = gp.fit_surrogate

    def spy(X, Y, **kwargs):
        seen.append((kwargs["Yvar"], kwargs["extra_noise"], len(Y)))
        return fit(X, Y, **kwargs)

    monkeypatch.setattr(gp, "fit_surrogate", spy)
    knobs = SearchKnobs(
        budget=5, seed=0, n_warmup=3, n_candidates=32, n_random=4, n_sobol=32, gp_noise=mode
    )
    s = GPStrategy(space, knobs)
    history, _ = run_search(s, space, problem, 3)
    # every trial carries noise_var, except the first one when noise is None
    history = [
        TrialResult(t.recipe, t.score, noise_var=noise if i == 0 else 0.02)
        for i, t in enumerate(history)
    ]
    assert s.ask(history, [], 1)
    yvar, extra, n = seen[-1]
    if expect is None:
        assert yvar is None
    else:
        assert n == 3 and np.allclose(yvar, [noise, 0.02, 0.02])
        assert extra == (expect == "extra")
