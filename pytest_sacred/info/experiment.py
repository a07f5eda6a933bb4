"""What an experiment's code is made of: its sources, the packages it uses, its repository.

``base_dir`` is the pytest rootdir, so sources are named relative to the project: the test
module (the ``mainfile``), the ``conftest.py`` files above it (they hold shared config),
and the project's own modules the test module refers to.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import sysconfig
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ..hashing import md5_of
from .git import repository_info

_LIBRARY_DIRS = tuple(
    {os.path.realpath(p) for p in (sysconfig.get_paths()["purelib"],
                                   sysconfig.get_paths()["platlib"],
                                   sysconfig.get_paths()["stdlib"])}
)


md5_of_file = lru_cache(maxsize=None)(md5_of)  # cleared at each session start


@lru_cache(maxsize=1)
def _all_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@cache
def _distributions_of(top: str) -> tuple[str, ...]:
    """Installed distributions providing the top-level module ``top``.

    Most modules share their distribution's name, which is found directly; only the others
    (``sklearn``, ``yaml``) need the index of every installed distribution (≈0.5 s).
    """
    if top.startswith("_") or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return ()  # private modules (_pytest) belong to a package that is listed itself
    try:
        return (importlib.metadata.distribution(top).metadata["Name"],)
    except importlib.metadata.PackageNotFoundError:
        return tuple(_all_distributions().get(top, ()))


def _named_distribution(top: str) -> bool:
    try:
        importlib.metadata.distribution(top)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _is_local(module: ModuleType, base_dir: str) -> bool:
    """Part of the project itself: under ``base_dir``, and not an installed distribution
    of the same name (an editable install in the project counts as a dependency)."""
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    real = os.path.realpath(filename)
    return (real.startswith(base_dir + os.sep) and not real.startswith(_LIBRARY_DIRS)
            and not _named_distribution(module.__name__.partition(".")[0]))


def _referenced_modules(module: ModuleType) -> Iterable[ModuleType]:
    """Modules a module's globals refer to: imported modules and the homes of imported names."""
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            yield value
        else:
            try:
                home = sys.modules.get(getattr(value, "__module__", None) or "")
            except Exception:  # proxies whose attribute access raises
                continue
            if isinstance(home, ModuleType):
                yield home


def sources(modules: list[ModuleType], base_dir: str) -> list[list[str]]:
    """``[relative path, md5]`` of the given modules and the local modules they refer to."""
    files = set()
    for module in modules:
        for candidate in [module, *_referenced_modules(module)]:
            if candidate is module or _is_local(candidate, base_dir):
                filename = getattr(candidate, "__file__", None) or ""
                if filename.endswith(".py"):
                    files.add(os.path.realpath(filename))
    return [[os.path.relpath(f, base_dir), md5_of_file(f)] for f in sorted(files)]


def dependencies(modules: list[ModuleType], base_dir: str) -> list[str]:
    """``name==version`` of the installed packages the modules use (numpy always, if present)."""
    names = {"numpy"}
    for module in modules:
        for ref in _referenced_modules(module):
            if not _is_local(ref, base_dir):
                names.add(ref.__name__.partition(".")[0])
    found = set()
    for top in names:
        for dist in _distributions_of(top):
            try:
                found.add(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                found.add(f"{dist}==<unknown>")
    return sorted(found, key=str.lower)


def repositories(source_list: list[list[str]], base_dir: str) -> list[dict[str, Any]]:
    """One entry per repository (Sacred repeats it once per source file)."""
    seen: list[dict[str, Any]] = []
    for name, _ in source_list:
        info = repository_info(Path(base_dir, name).parent)
        if info is not None and info not in seen:
            seen.append(info)
    return seen


def module_info(module: ModuleType, conftests: list[ModuleType], base_dir: Path) -> dict[str, Any]:
    """``ex_info`` without the name, for experiments defined in ``module``."""
    base = os.path.realpath(base_dir)
    found = sources([module, *conftests], base)
    assert module.__file__ is not None
    return {
        "base_dir": base,
        "sources": found,
        "dependencies": dependencies([module, *conftests], base),
        "repositories": repositories(found, base),
        "mainfile": os.path.relpath(os.path.realpath(module.__file__), base),
    }
