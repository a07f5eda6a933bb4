"""pytest-sacred: Sacred's experiment tracking as a pytest plugin.

Experiments are tests marked ``@pytest.mark.experiment``; their config entries are
fixtures declared with :func:`config`.
"""

from __future__ import annotations

from .decorators import capture, config, named_config
from .run import Run
from .updates import SacredConfigWarning

__all__ = ["Run", "SacredConfigWarning", "capture", "config", "named_config"]

#: what ``__version__`` says when the package is imported from a source tree that was
#: never installed (no distribution metadata to read)
UNKNOWN_VERSION = "0+unknown"


def package_version(distribution: str = "pytest-sacred") -> str:
    """The installed distribution's version, from its metadata (``pyproject.toml`` is the
    one place the version is written); :data:`UNKNOWN_VERSION` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


def __getattr__(name: str) -> str:
    # read on first use: looking up distribution metadata costs milliseconds that an
    # ordinary test session loading the plugin should not pay
    if name == "__version__":
        value = package_version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
