"""The three BO verbs, as separate functions: fit the surrogate, build the acquisition, score.

We never optimise the acquisition over a continuous box: candidates are *recipes* whose
encoding includes the state vector of the subset they realize, so the only meaningful
points are realized ones. :func:`score_candidates` therefore evaluates the acquisition on
a discrete candidate set.

Determinism: the marginal-likelihood fit and the MC sampler both draw from torch's global
RNG in places we do not control (random restarts, baseline pruning), so every call that
may draw runs inside ``torch.random.fork_rng()`` with an explicit seed: the caller's global
RNG is left untouched and the same inputs give the same outputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import numpy as np
import torch

DTYPE = torch.float64


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, restoring the caller's state after."""
    with torch.random.fork_rng(devices=[]), _one_thread():
        torch.manual_seed(int(seed) % (2**63 - 1))
        yield


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run a block with one intra-op torch thread, restoring the caller's setting after.

    The surrogate's matrices are tiny (`n <= a few hundred`), so intra-op parallelism
    buys nothing and, on a loaded machine, costs a lot: measured on 2 shared cores with
    a load of ~10, fitting a 50-point, 75-dimension GP took 12 s with 2 threads and
    0.7 s with 1 (threads spin waiting for each other on every small kernel).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)


def fit_surrogate(X: np.ndarray, Y: np.ndarray, *, seed: int = 0, maxiter: int = 100):
    """Fit a SingleTaskGP (Matern 5/2, ARD) to the evaluated recipes.

    Inputs are normalised to the unit cube (``Normalize``), outcomes standardised
    (``Standardize``) and the observation noise is inferred (SFT scores are noisy). The
    lengthscales carry botorch's dimension-scaled log-normal prior, which keeps a
    30-60 dimensional ARD kernel from overfitting the 5-50 points a search has.

    Args:
        X: `n x d` encoded recipes (only successful evaluations: failures are never fitted).
        Y: `n` or `n x 1` scores (higher is better).
        seed: seeds the fit's random restarts, if any.
        maxiter: cap on L-BFGS-B iterations (bounds the time per ask).

    Returns:
        The fitted ``botorch.models.SingleTaskGP`` in eval mode.
    """
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.mlls import ExactMarginalLogLikelihood

    tx = _tensor(X)
    ty = _tensor(Y).reshape(-1, 1)
    if tx.ndim != 2 or tx.shape[0] != ty.shape[0] or tx.shape[0] < 2:
        raise ValueError(
            f"fit_surrogate needs n >= 2 rows with X `n x d`, got X {tuple(tx.shape)}, "
            f"Y {tuple(ty.shape)}"
        )
    d = tx.shape[1]
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False)
    model = SingleTaskGP(
        tx,
        ty,
        covar_module=covar,
        input_transform=Normalize(d=d),
        outcome_transform=Standardize(m=1),
    )
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with _seeded(seed), warnings.catch_warnings():
        # Constant training columns (an operator never enabled yet) trigger harmless
        # Normalize / numerical warnings; they are expected early in a search.
        warnings.simplefilter("ignore")
        # A failed fit keeps the prior-initialised model rather than failing the ask.
        with suppress(Exception):
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    model.eval()
    return model


def predict(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation of the latent score.

    Args:
        model: a fitted surrogate.
        X: `m x d` encoded candidates.

    Returns:
        ``(mean, std)``, each of length `m`.
    """
    with torch.no_grad(), _one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = model.posterior(_tensor(X))
        mean = post.mean.reshape(-1).numpy()
        std = post.variance.clamp_min(0).sqrt().reshape(-1).numpy()
    return mean.copy(), std.copy()


def build_acquisition(
    model,
    X_baseline: np.ndarray,
    X_pending: np.ndarray | None = None,
    *,
    seed: int = 0,
    mc_samples: int = 128,
):
    """qLogNoisyExpectedImprovement over the evaluated points, pending jobs as ``X_pending``.

    Pending jobs are jointly fantasised with each candidate, so a candidate close to a job
    already running gets little credit: that is what lets several workers be busy at once
    without evaluating the same idea twice.

    Args:
        model: the fitted surrogate.
        X_baseline: `n x d` evaluated points (the noisy incumbent is inferred over them).
        X_pending: `p x d` points being evaluated now, or ``None``.
        seed: seeds the quasi-MC sampler and baseline pruning.
        mc_samples: number of QMC samples.

    Returns:
        A ``qLogNoisyExpectedImprovement`` acquisition function.
    """
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.sampling import SobolQMCNormalSampler

    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=int(seed) % 2**31)
    pending = None
    if X_pending is not None and len(X_pending):
        pending = _tensor(X_pending)
    with _seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acq = qLogNoisyExpectedImprovement(
            model, _tensor(X_baseline), sampler=sampler, X_pending=pending, prune_baseline=True
        )
    return acq


def score_candidates(
    acq, X_cand: np.ndarray, *, batch_size: int = 256, seed: int = 0
) -> np.ndarray:
    """Evaluate the acquisition on a discrete candidate set, one candidate per q-batch.

    Args:
        acq: an acquisition function (e.g. from :func:`build_acquisition`).
        X_cand: `m x d` encoded, realized candidates.
        batch_size: candidates per forward pass (memory vs. overhead).
        seed: seeds anything the forward pass may draw.

    Returns:
        `m` acquisition values (log-EI scale; higher is better).
    """
    X = _tensor(X_cand)
    if X.ndim != 2:
        raise ValueError(f"X_cand must be `m x d`, got {tuple(X.shape)}")
    out = []
    with torch.no_grad(), _seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(0, X.shape[0], batch_size):
            out.append(acq(X[i : i + batch_size].unsqueeze(1)).reshape(-1))
    if not out:
        return np.zeros(0)
    return torch.cat(out).numpy().copy()
