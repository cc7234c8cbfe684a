"""An offline demo pool where data quality really matters, with held-out benchmarks.

Four reasoning domains with verifiable answers (``arithmetic``, ``graphs``, ``boolean``,
``dates``), planted defects at known rates recorded in hidden labels (``labels.jsonl``,
never read by operators), several responses per prompt for a share of prompts, and
benchmark sets per domain that share no question with the pool.
"""

from autosel.pool.demo.config import DEFECTS, SIZES, DemoConfig
from autosel.pool.demo.generate import DOMAINS, DemoPool, generate_demo_pool
from autosel.pool.demo.labels import load_labels

__all__ = [
    "DEFECTS", "DOMAINS", "SIZES", "DemoConfig", "DemoPool", "generate_demo_pool", "load_labels",
]
