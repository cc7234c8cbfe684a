"""Per-sample signals of a pool: one model pass, many cached signals (see docs/architecture.md).

Public API::

    from autosel.signals import compute_signals, load_signals, MinHashParams

    sig = compute_signals(pool, model="smollm2", benchmarks={"math": "bench/math.jsonl"},
                          ifd=False, minhash=MinHashParams(thresholds=(0.5, 0.7, 0.9)))
    sig = load_signals(pool)            # NotFoundError with a hint if nothing computed
    sig.names                           # sorted per-row column names
    sig.column("hes")                   # np.ndarray, len(pool)
    sig.hes(p=0.01, unit="nats")        # recomputed from the cached token entropies
    sig.ragged("token_entropy")         # (float32 values, int64 offsets of length n+1)
    sig.minhash_clusters(0.8)           # cluster id per row = smallest row index in cluster
    sig.exact_groups()                  # same convention for exact duplicates
    sig.embeddings()                    # n x d float32, mean final hidden state (response)

``compute_signals(pool, *, model="smollm2", device=None, precision="auto", benchmarks=None,
ifd=False, minhash=MinHashParams(), text_params=None, max_tokens=2048, batch_tokens=None,
progress=True, settings=None, unit="bits", executor="local") -> SignalSet`` computes only what
is missing. ``model=None`` skips the model pass (model-free signals only). ``executor="ray"``
(or a :class:`RayExecutor`) runs the model-pass shards on Ray Data actors and fills the
same cache entries (``ray_exec.py``; the ``ray`` extra).

Columns (``SignalSet.column``):

- model-free: ``resp_chars`` (characters), ``lexical_entropy`` (bits of the word-bigram
  distribution of the response), ``difficulty``.
- model pass (teacher forcing; prompt rendered with the model's chat template; statistics
  over the response tokens only, i.e. the tokens of the response text, no end-of-turn
  token): ``resp_tokens`` (before truncation), ``entropy_mean``, ``entropy_sum``, ``hes``
  (p = 0.005), ``hes_abs`` (tau = 1.6 bits), ``avg_he`` (= hes / k), ``varentropy_mean``,
  ``nll_mean``, ``ppl``, ``truncated`` (0/1), ``empty`` (0/1), ``relevance:<bench>``
  (cosine of the sample embedding to the centroid of the benchmark's *dev-split questions*;
  answers, choices and test items are never read, see ``relevance.py``), ``ifd`` (opt-in:
  NLL of the response given the prompt / NLL of the response after an empty user turn).

``benchmarks`` maps a name to a benchmark file (split by item id with the default
``test_fraction``) or to an :class:`~autosel.evaluation.BenchmarkSpec` (its own split).

Units: entropies are **bits by default** (the OpenDataArena HESScorer convention); pass
``unit="nats"`` to ``compute_signals``/``load_signals`` (every entropy column, ``hes``,
``hes_abs`` and ``avg_he`` included, follows it) or to ``hes()``/``hes_abs()``/``avg_he()``.
Relative HES in bits = HES in nats / ln 2 exactly (same k tokens); ``hes_abs(tau, unit)``
reads ``tau`` in ``unit``, and the ``hes_abs`` column uses tau = 1.6 bits in either unit
(``signalset.default_tau``). Varentropy is in unit². NLL and perplexity are always in nats.
Per-token arrays are stored in nats, float32.

HES: ``k = max(1, ceil(p * N))`` largest token entropies of the N response tokens summed.

Defined values: an empty response (0 tokens) has every sum/mean 0, ``ppl`` 1, a zero
embedding, relevance 0, ``empty = 1``. A sample longer than ``max_tokens`` (or the model
context) is truncated (prompt head first, then response tail) with ``truncated = 1``.

Difficulty: the pool's own ``difficulty`` when every row has one (manifest
``difficulty_source = "pool"``), otherwise the model proxy answer NLL
(``"model_proxy:nll_mean"``), otherwise the partial pool column with NaN.

Cache: ``$AUTOSEL_HOME/signals/<pool content hash[:16]>/<group>-<key hash>/`` (groups
``text``, ``minhash``, ``model``, ``ifd``, ``bench``), keyed by pool content hash, group
name + version, model identity and the parameters that change values; written atomically;
model passes run in resumable row shards (:func:`compute_shard`, :func:`merge_shards`).
Importing this package does not import torch.
"""

from autosel.signals.compute import compute_signals, load_signals
from autosel.signals.params import MinHashParams, ModelParams, TextParams
from autosel.signals.ray_exec import RayExecutor
from autosel.signals.shard import ModelSpec, compute_shard, merge_shards
from autosel.signals.signalset import SignalSet

__all__ = [
    "MinHashParams",
    "ModelParams",
    "ModelSpec",
    "RayExecutor",
    "SignalSet",
    "TextParams",
    "compute_shard",
    "compute_signals",
    "load_signals",
    "merge_shards",
]
