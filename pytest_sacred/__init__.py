"""pytest-sacred: Sacred's experiment tracking as a pytest plugin.

Experiments are tests marked ``@pytest.mark.experiment``; their config entries are
fixtures declared with :func:`config`.
"""

from .decorators import capture, config, named_config

__all__ = ["capture", "config", "get_run", "load_runs", "named_config"]
__version__ = "0.1.0"

#: reading stored runs needs pandas: imported on first use, not with the plugin
_LAZY = {"load_runs": "pytest_sacred.readers.api", "get_run": "pytest_sacred.readers.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_sacred' has no attribute {name!r}")
