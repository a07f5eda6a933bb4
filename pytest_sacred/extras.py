"""Optional dependencies, imported when a feature needs them, with the extra that has them."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional package is not installed; the message names the pip command."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or :class:`MissingExtra` naming ``pip install 'pytest-sacred[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{purpose} needs {module.partition('.')[0]}, which is not "
                           f"installed: pip install 'pytest-sacred[{extra}]'") from None
