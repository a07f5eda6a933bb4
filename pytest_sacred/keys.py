"""Stash keys and names shared by the hooks; importing this costs nothing beyond pytest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .launchers.queued_runs import Replay
    from .record import RunRecord
    from .resolve import RunSpec
    from .resume import Resumption
    from .run import Run
    from .session import SacredSession

#: the resolved config of an experiment variant, set at collection
SPEC_KEY: pytest.StashKey[RunSpec] = pytest.StashKey()
#: the run of an experiment variant as its test sees it, from its setup to its teardown
RUN_KEY: pytest.StashKey[Run] = pytest.StashKey()
#: the runner's record behind that run
RECORD_KEY: pytest.StashKey[RunRecord] = pytest.StashKey()
#: the session's state, on the config
STATE: pytest.StashKey[SacredSession] = pytest.StashKey()
#: the parameter the ``named_configs`` marker sweeps
NAMED_PARAM = "sacred_named_config"
#: the parameter ``--sacred-seeds``/the marker's ``seeds=`` sweeps: ``(index, count)``
SEED_PARAM = "sacred_seed_index"
#: a stored run a variant replays (a queue worker's, --sacred-rerun): its id, when
#: the run keeps it, and meta entries to add
REPLAY_KEY: pytest.StashKey[Replay] = pytest.StashKey()
#: what a launcher, queue worker or re-run session planned at collection
LAUNCH_KEY: pytest.StashKey[dict[str, Any]] = pytest.StashKey()
#: the stored run a variant continues (``--sacred-resume``), set once it is claimed
RESUME_KEY: pytest.StashKey[Resumption] = pytest.StashKey()
