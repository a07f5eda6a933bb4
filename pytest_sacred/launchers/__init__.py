"""Running the selected experiment variants somewhere else than this pytest session.

A launcher (``--sacred-launcher=slurm`` or ``local``) turns the selected variants into one
submitit job array; each task runs ``pytest`` on its node ids with this session's
``--sacred-*`` options, so the runs reach the same stores under ids allocated as usual.
The submitting session runs nothing itself: it follows the tasks and reports their runs.

``options.py`` reads the options, ``array.py`` submits and follows a job array (shared by
both executors), ``executors.py`` builds the executors, ``task.py`` is what runs inside a
task (and how it reads submitit's and Slurm's signals).
"""

from __future__ import annotations

from typing import Any

import pytest


def prepare(config: pytest.Config, items: list[pytest.Item], state: Any, before: bool) -> None:
    """Called from ``pytest_collection_modifyitems``: ``before`` the experiments are
    resolved (a re-run selects its variant), and after (everything is checked, the
    executor built: bad input fails here, before anything is submitted or claimed)."""
    from ..keys import LAUNCH_KEY

    if before:
        opts = state.options.launch  # parsed with the session's options
        plan = config.stash[LAUNCH_KEY] = {"options": opts}
        if opts.rerun is not None:
            from ..rerun import select

            plan["rerun"] = select(config, items, state.observers, opts.rerun,
                                   opts.rerun_from)
        if opts.resume:
            from .. import resume

            plan["resume"] = resume.select(config, items, state.observers, opts.resume)
        return
    plan = config.stash[LAUNCH_KEY]
    opts = plan["options"]
    if not state.experiments:
        return
    if opts.run_queued:
        from .queued_runs import queue_store

        queue_store(state.observers, "--sacred-run-queued")
    if state.options.queue:
        from .queued_runs import check_queueing

        check_queueing(state.observers)
    if opts.launcher:
        from .executors import build

        plan["executor"] = build(opts.launcher, opts.slurm, config.rootpath)
        if opts.slurm.requeue is not None:  # requeued tasks resume their runs in this store
            from ..resume import store_for
            from .task import REQUEUE_OPTION

            store_for(state.observers, REQUEUE_OPTION)
    if "rerun" in plan and not opts.launcher:
        from ..rerun import apply

        apply(state.experiments[0], plan["rerun"], state.runner)
    if "resume" in plan:  # claimed last: every check before has passed
        from ..resume import claim_all

        claim_all(state.observers, plan["resume"])


def _plan(session: pytest.Session) -> tuple[dict[str, Any], Any] | None:
    """The launch prepared in ``pytest_collection_modifyitems`` and the session's state;
    ``None`` when no experiment is selected (pytest's loop runs the rest)."""
    from ..keys import LAUNCH_KEY, STATE

    plan = session.config.stash.get(LAUNCH_KEY, None)
    state = session.config.stash[STATE]
    if plan is None or not state.experiments:
        return None
    return plan, state


def launch(session: pytest.Session) -> bool:
    """The launcher's ``pytest_runtestloop`` (:class:`pytest_sacred.roles.Launcher`):
    submit the tasks and follow them. ``False`` leaves the test loop to pytest."""
    prepared = _plan(session)
    if prepared is None:
        return False
    plan, state = prepared
    from .array import launch as submit_and_follow

    submit_and_follow(session, plan["executor"], plan["options"], state.observers)
    return True


def work(session: pytest.Session) -> bool:
    """The queue worker's ``pytest_runtestloop`` (:class:`pytest_sacred.roles.QueueWorker`):
    claim and run queued runs. ``False`` leaves the test loop to pytest."""
    prepared = _plan(session)
    if prepared is None:
        return False
    opts = prepared[0]["options"]
    from .queued_runs import work as claim_and_run

    claim_and_run(session, opts.worker_idle, opts.requeue_dead)
    return True
