"""Surrogate diagnostics: the closed-form leave-one-out equals conditioning on the other
points (same hyperparameters), and importances follow the inputs that matter."""

from __future__ import annotations

import numpy as np
import torch

from autosel.search import gp
from autosel.search.diagnostics import feature_importance, loo_predictions


def _data(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    Y = np.sin(6 * X[:, 0]) + 0.05 * X[:, 1] + rng.normal(0, 0.05, n)  # x0 matters most
    return X, Y


def test_loo_equals_conditioning_on_the_other_points() -> None:
    X, Y = _data()
    model = gp.fit_surrogate(X, Y, seed=0)
    mean, std = loo_predictions(model)
    # Independent path: for each i, the Gaussian conditional of y_i on the other y's under
    # the fitted marginal covariance, computed with a solve (no inverse identity).
    model.eval()
    with torch.no_grad():
        prior = model.forward(model.train_inputs[0])
        C = model.likelihood(prior).covariance_matrix.numpy()
        m = prior.mean.numpy()
        y = model.train_targets.numpy()
    scale = float(model.outcome_transform.stdvs.reshape(-1)[0])
    shift = float(model.outcome_transform.means.reshape(-1)[0])
    for i in range(len(Y)):
        rest = np.arange(len(Y)) != i
        w = np.linalg.solve(C[np.ix_(rest, rest)], C[rest, i])
        mu = m[i] + w @ (y[rest] - m[rest])
        var = C[i, i] - C[i, rest] @ w
        assert np.isclose(mu * scale + shift, mean[i], atol=1e-6)
        assert np.isclose(np.sqrt(var) * scale, std[i], atol=1e-6)
    # and the predictions track held-out truth on a smooth function
    assert np.corrcoef(mean, Y)[0, 1] > 0.8


def test_importance_ranks_the_input_that_moves_the_score_first() -> None:
    X, Y = _data(40, seed=1)
    ranked = feature_importance(gp.fit_surrogate(X, Y, seed=0), ["x0", "x1", "x2"])
    assert ranked[0][0] == "x0" and abs(sum(s for _, s in ranked) - 1) < 1e-9
