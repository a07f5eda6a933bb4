"""Seeding the global generators of a run, and the per-run generator handed to tests.

numpy takes a quarter of a second to import and torch several: a run that has not imported
them does not pay for it. Their global generators are seeded when the run imports them
(the seed is applied the moment the import completes, before anything can draw from them,
so the numbers are those of seeding beforehand), or right away when already imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import random
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any


def derive_seed(root: int, index: int) -> int:
    """The seed of run ``index`` of a group whose root seed is ``root``: a hash of both, so
    that seeds of neighbouring indices or roots are unrelated, from 1 to 2**31 - 1 (valid
    for numpy, torch and TensorFlow alike)."""
    import hashlib

    digest = hashlib.sha256(f"pytest-sacred seed {root} {index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1) + 1


def _seed_numpy(numpy: Any, seed: int) -> None:
    numpy.random.seed(seed % 2**32)


def _seed_torch(torch: Any, seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _seed_tensorflow(tf: Any, seed: int) -> None:
    if hasattr(tf, "random"):
        tf.random.set_seed(seed)


#: module name -> how to seed it once imported
_SEEDERS: dict[str, Callable[[Any, int], None]] = {
    "numpy": _seed_numpy, "torch": _seed_torch, "tensorflow": _seed_tensorflow}


class _SeedingLoader(importlib.abc.Loader):
    """The real loader, then the run's seed."""

    def __init__(self, loader: importlib.abc.Loader, name: str, seed: int) -> None:
        self._loader, self._name, self._seed = loader, name, seed

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _SEEDERS[self._name](module, self._seed)


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds numpy, torch and TensorFlow when the current run imports them."""

    def __init__(self) -> None:
        self.seed: int | None = None

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if self.seed is None or fullname not in _SEEDERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _SeedingLoader(spec.loader, fullname, self.seed)
                return spec
        return None


_ON_IMPORT = _SeedOnImport()


def seed_globals(seed: int) -> None:
    """Seed ``random`` now; numpy, torch and TensorFlow now if imported, else on import."""
    random.seed(seed)
    for name, seeder in _SEEDERS.items():
        module = sys.modules.get(name)
        if module is not None:
            seeder(module, seed)
    _ON_IMPORT.seed = seed
    if _ON_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _ON_IMPORT)


def forget() -> None:
    """The run is over: imports no longer seed anything."""
    _ON_IMPORT.seed = None
    if _ON_IMPORT in sys.meta_path:
        sys.meta_path.remove(_ON_IMPORT)


@lru_cache(maxsize=1)
def _numpy_available() -> bool:
    return importlib.util.find_spec("numpy") is not None


def create_rnd(seed: int) -> Any:
    """A ``numpy.random.Generator`` when numpy is installed, else ``random.Random``."""
    if _numpy_available():
        import numpy

        return numpy.random.default_rng(seed)
    return random.Random(seed)
