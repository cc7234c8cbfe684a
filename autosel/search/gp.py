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

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

DTYPE = torch.float64
log = logging.getLogger("autosel.search")


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


def fit_surrogate(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    Yvar: np.ndarray | None = None,
    extra_noise: bool = False,
    seed: int = 0,
    maxiter: int = 100,
):
    """Fit a SingleTaskGP (Matern 5/2, ARD) to the evaluated recipes.

    Inputs are normalised to the unit cube (``Normalize``), outcomes standardised
    (``Standardize``). The lengthscales carry botorch's dimension-scaled log-normal prior,
    which keeps a 30-60 dimensional ARD kernel from overfitting the 5-50 points a search has.

    Noise model (SFT scores are noisy; which model is used depends on ``Yvar``):

    - ``Yvar is None``: the noise is *learned*, one homoskedastic variance fitted with the
      rest (botorch's ``GaussianLikelihood`` with a LogNormal(-4, 1) prior on the
      standardised scale).
    - ``Yvar`` given, ``extra_noise=False``: the noise is *known*, a per-trial variance
      (``FixedNoiseGaussianLikelihood``), nothing about it is fitted. The scheduler
      supplies item variance plus seed variance, so this is the whole measured noise.
    - ``Yvar`` given, ``extra_noise=True``: the known variance is a floor and one extra
      homoskedastic variance is learned on top (same prior as the learned model), for
      when part of the noise (e.g. training seeds) is not in ``Yvar``.

    ``Yvar`` is in the units of ``Y`` (utility²). botorch 0.18's ``Standardize`` rescales
    it together with ``Y`` (``Yvar / std(Y)²``, the same ``std`` that scales ``Y``; left
    as is when ``n == 1`` or ``std(Y)`` is ~0), so callers never standardise it
    themselves. Consequence: when the scores' spread is no larger than their noise, the
    standardised noise is ~1 and the GP rightly learns little from them. Variances below
    gpytorch's floor for float64 (1e-6 after standardising) are raised to it.

    If the marginal-likelihood fit fails (every attempt raised or was not PSD), a
    warning is logged with the reason and the model keeps its prior-initialised
    hyperparameters, so an ask still returns candidates.

    Args:
        X: `n x d` encoded recipes (only successful evaluations: failures are never fitted).
        Y: `n` or `n x 1` scores (higher is better).
        Yvar: `n` or `n x 1` variances of the observed scores, or ``None`` (learned noise).
        extra_noise: with ``Yvar``, also learn a homoskedastic variance on top of it.
        seed: seeds the fit's random restarts, if any.
        maxiter: cap on L-BFGS-B iterations (bounds the time per ask).

    Returns:
        The fitted ``botorch.models.SingleTaskGP`` in eval mode.
    """
    from botorch.exceptions.errors import ModelFittingError
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from linear_operator.utils.errors import NanError, NotPSDError

    tx = _tensor(X)
    ty = _tensor(Y).reshape(-1, 1)
    if tx.ndim != 2 or tx.shape[0] != ty.shape[0] or tx.shape[0] < 2:
        raise ValueError(
            f"fit_surrogate needs n >= 2 rows with X `n x d`, got X {tuple(tx.shape)}, "
            f"Y {tuple(ty.shape)}"
        )
    tyvar = None
    if Yvar is not None:
        tyvar = _tensor(Yvar).reshape(-1, 1)
        bad = tyvar.shape != ty.shape or not bool((torch.isfinite(tyvar) & (tyvar >= 0)).all())
        if bad:
            raise ValueError(
                f"fit_surrogate: Yvar must hold {ty.shape[0]} finite variances >= 0, one per "
                f"row of Y; got shape {tuple(np.shape(Yvar))}, first values "
                f"{tyvar.reshape(-1)[:5].tolist()}"
            )
    d = tx.shape[1]
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False)
    model = SingleTaskGP(
        tx,
        ty,
        train_Yvar=tyvar,
        covar_module=covar,
        input_transform=Normalize(d=d),
        outcome_transform=Standardize(m=1),
    )
    if tyvar is not None and extra_noise:
        model.likelihood = _known_plus_learned_noise(model.likelihood.noise_covar.noise)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with _seeded(seed), warnings.catch_warnings():
        # Constant training columns (an operator never enabled yet) trigger harmless
        # Normalize / numerical warnings; they are expected early in a search.
        warnings.simplefilter("ignore")
        try:
            fit_gpytorch_mll(
                mll,
                optimizer_kwargs={"options": {"maxiter": maxiter}},
                # a NaN in the Cholesky is one bad restart, not a reason to stop retrying
                caught_exception_types=(NotPSDError, NanError),
            )
        except (ModelFittingError, NotPSDError, NanError) as err:
            # The model keeps its prior hyperparameters; the caller decides what to do with
            # it (GPStrategy falls back to space-filling and logs a ``gp_fit_failed`` event).
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            log.warning("GP fit on %d points failed (%s)", tx.shape[0], reason)
            model.__dict__["fit_failure"] = reason  # plain attribute (not a Module field)
    model.eval()
    return model


def fit_failure(model: Any) -> str | None:
    """Why :func:`fit_surrogate` could not fit ``model`` (``None`` when the fit worked)."""
    return getattr(model, "fit_failure", None)


def _known_plus_learned_noise(known: torch.Tensor):
    """A likelihood with per-trial known noise (standardised) plus one learned variance."""
    from botorch.models.utils.gpytorch_modules import MIN_INFERRED_NOISE_LEVEL
    from gpytorch.constraints import GreaterThan
    from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
    from gpytorch.priors import LogNormalPrior

    prior = LogNormalPrior(loc=-4.0, scale=1.0)
    lik = FixedNoiseGaussianLikelihood(
        noise=known,
        learn_additional_noise=True,
        noise_prior=prior,
        noise_constraint=GreaterThan(
            MIN_INFERRED_NOISE_LEVEL, transform=None, initial_value=prior.mode
        ),
    )
    return lik.to(known)


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
