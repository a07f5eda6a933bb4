"""Seeding the global generators of a run, and the per-run generator handed to tests."""

from __future__ import annotations

import importlib.util
import random
import sys
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _numpy_available() -> bool:
    return importlib.util.find_spec("numpy") is not None


def seed_globals(seed: int) -> None:
    """Seed ``random``, numpy (when installed) and torch/TensorFlow (when already imported).

    torch and TensorFlow take seconds to import, so, as in Sacred, they are seeded only if
    the experiment imported them itself.
    """
    random.seed(seed)
    if _numpy_available():
        import numpy

        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        tf.random.set_seed(seed)


def create_rnd(seed: int) -> Any:
    """A ``numpy.random.Generator`` when numpy is installed, else ``random.Random``."""
    if _numpy_available():
        import numpy

        return numpy.random.default_rng(seed)
    return random.Random(seed)
