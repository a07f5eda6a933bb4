"""Fixtures an experiment asks for: ``sacred_run`` (alias ``_run``), ``seed``, ``rnd``,
``_log``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from .keys import RUN_KEY, SPEC_KEY
from .run import Run


def _not_an_experiment(request: pytest.FixtureRequest, fixture: str) -> pytest.UsageError:
    return pytest.UsageError(
        f"{request.node.nodeid} asks for {fixture!r}, which only experiments have: "
        "mark the test with @pytest.mark.experiment"
    )


@pytest.fixture
def sacred_run(request: pytest.FixtureRequest) -> Run:
    """The current run: log metrics, add artifacts, read its config and id."""
    run: Run | None = request.node.stash.get(RUN_KEY, None)
    if run is None:
        raise _not_an_experiment(request, "sacred_run")
    return run


@pytest.fixture
def _run(sacred_run: Run) -> Run:
    """Sacred's name for :func:`sacred_run`."""
    return sacred_run


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """This run's root seed; ``random``, numpy and torch were seeded with it."""
    spec = request.node.stash.get(SPEC_KEY, None)
    if spec is None:
        raise _not_an_experiment(request, "seed")
    value: int = spec.seed
    return value


@pytest.fixture
def rnd(seed: int) -> Any:
    """A generator seeded from the run's seed (numpy ``Generator``, else ``random.Random``)."""
    from .seeding import create_rnd

    return create_rnd(seed)


@pytest.fixture
def _log(sacred_run: Run) -> logging.Logger:
    """Sacred's ``_log``: the logger ``<experiment>.<test function>``; its records (INFO and
    up unless a level is configured) are part of the run's captured output. With
    ``@pytest.mark.experiment(..., logger=logger)`` it is ``logger.getChild(<test
    function>)``, as with Sacred's ``ex.logger``."""
    from .decorators import run_log

    return run_log(sacred_run.meta_info["command"])


@pytest.fixture
def sacred_baseline(request: pytest.FixtureRequest) -> Any:
    """The earlier run this run is compared with (``--sacred-compare``; ``last`` when not
    given) as ``pytest_sacred.get_run`` gives it, or ``None`` when there is none."""
    from .keys import STATE

    if request.node.stash.get(SPEC_KEY, None) is None:
        raise _not_an_experiment(request, "sacred_baseline")
    return request.config.stash[STATE].regression.baseline(request.node.nodeid)
