"""pytest-sacred: Sacred's experiment tracking as a pytest plugin.

Experiments are tests marked ``@pytest.mark.experiment``; their config entries are
fixtures declared with :func:`config`.
"""

from __future__ import annotations

from typing import Any

from .decorators import capture, config, named_config
from .run import Run
from .updates import SacredConfigWarning

__all__ = ["Run", "SacredConfigWarning", "capture", "config", "get_run", "load_runs",
           "named_config"]

#: what ``__version__`` says when the package is imported from a source tree that was
#: never installed (no distribution metadata to read)
UNKNOWN_VERSION = "0+unknown"
#: reading stored runs needs pandas: imported on first use, not with the plugin
_LAZY = {"load_runs": "pytest_sacred.readers.api", "get_run": "pytest_sacred.readers.api"}


def package_version(distribution: str = "pytest-sacred") -> str:
    """The installed distribution's version, from its metadata (``pyproject.toml`` is the
    one place the version is written); :data:`UNKNOWN_VERSION` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def __getattr__(name: str) -> Any:
    # read on first use: distribution metadata and the readers cost what an ordinary test
    # session loading the plugin should not pay
    if name == "__version__":
        value = package_version()
        globals()["__version__"] = value
        return value
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
