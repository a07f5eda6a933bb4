"""Which observers a session gets, from its options.

The stores come from the registry of store kinds (:mod:`.registry`); each store's module
is imported only when its option is given, so a store's client library is needed only by
those who use it.
"""

from __future__ import annotations

from pathlib import Path

from ..options import Options
from .base import Observer


def build_observers(options: Options, rootpath: Path) -> list[Observer]:
    """The shipped observers selected for this session (none with ``--sacred-unobserved``).

    The file store is the default: it is used when given explicitly or when no other
    store is selected. ``--sacred-observer`` adds observers that feed other tools (a
    Sacred observer such as neptune-sacred's) without displacing the default store.
    """
    if options.unobserved:
        return []
    from . import registry

    observers: list[Observer] = registry.observers_from_options(options)
    if not observers:
        observers.append(registry.kind("file").open_writer(str(rootpath / "runs")))
    from ..notify import notifiers

    observers += notifiers(options)  # they store nothing: after the default store
    if options.observers:
        # after the default store is settled: these feed other tools and store no ids
        from .sacred_adapter import from_spec

        observers += [from_spec(spec) for spec in options.observers]
    return observers
