"""What the surrogate believes, for the dashboard: leave-one-out predictions on dev and
which inputs it finds important.

- **Leave-one-out (LOO)**: for each scored trial, the GP's prediction of its dev score
  from all the other trials, with the hyperparameters of the fit on all of them (the
  closed form of Rasmussen & Williams 2006, §5.4.2: ``mu_i = y_i - [C^-1 r]_i /
  [C^-1]_ii``, ``var_i = 1 / [C^-1]_ii`` with ``C`` the marginal covariance, noise
  included, and ``r = y - m``). One fit, one ``n x n`` inverse: cheap enough for an API
  call. Points far outside their interval are trials the surrogate cannot explain (noise,
  or a feature it does not see).
- **Importance**: the inverse ARD lengthscale of each GP input (inputs are normalised to
  ``[0, 1]``, so the lengthscales are comparable), normalised to sum to 1. With the
  default ``features: state`` the inputs are the realized subset's state features (size,
  signal quantiles, duplicate rate, mix divergence), not operators: the surrogate reasons
  about what a subset *is*, and this says which of its properties move the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def loo_predictions(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out predictive mean and standard deviation of each training point of a
    fitted ``SingleTaskGP`` (see the module docstring), in the units of the scores it
    was fitted on (its ``Standardize`` outcome transform undone)."""
    model.eval()
    with torch.no_grad():
        x = model.train_inputs[0]
        prior = model.forward(x)
        cov = model.likelihood(prior).covariance_matrix
        resid = model.train_targets - prior.mean
        inv = torch.linalg.inv(cov)
        diag = torch.diagonal(inv)
        mean = model.train_targets - (inv @ resid) / diag
        var = 1.0 / diag
    mean_np = mean.detach().cpu().numpy().astype(np.float64)
    std_np = np.sqrt(np.clip(var.detach().cpu().numpy().astype(np.float64), 0.0, None))
    tf = getattr(model, "outcome_transform", None)
    if tf is not None and hasattr(tf, "stdvs"):
        scale = float(tf.stdvs.reshape(-1)[0])
        shift = float(tf.means.reshape(-1)[0])
        mean_np, std_np = mean_np * scale + shift, std_np * scale
    return mean_np, std_np


def feature_importance(model: Any, names: Sequence[str]) -> list[tuple[str, float]]:
    """``(input name, share)`` by inverse ARD lengthscale, largest first (shares sum to 1)."""
    ls = model.covar_module.lengthscale.detach().cpu().numpy().reshape(-1).astype(np.float64)
    if len(ls) != len(names):
        raise ValueError(f"{len(ls)} lengthscales for {len(names)} input names")
    inv = 1.0 / np.clip(ls, 1e-12, None)
    share = inv / inv.sum()
    return sorted(zip(names, share.tolist(), strict=True), key=lambda t: -t[1])
