"""Every ``--sacred-*`` option and ini key: registered here, parsed once into :class:`Options`.

The command line wins over the ini file; a relative path given on the command line is
relative to the current directory, one given in the ini file to the ini file's directory.
Bad values are usage errors that name the option and say what would be right.

pytest chooses the rootdir and the ini file before it loads plugins, so it takes the value
of ``--sacred-file-storage DIR`` (written as a separate argument) for a test path then:
when DIR exists outside the project, the rootdir moves to a common parent and the
project's ini file may go unread. :func:`check_values_taken_for_paths` refuses exactly
those sessions; ``--sacred-file-storage=DIR`` is never mistaken.
"""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .stores.base import DEFAULT_LOCK_TIMEOUT
from .updates import ConfigError, is_config_file, load_config_file, parse_assignments

if TYPE_CHECKING:
    from .launchers.options import LaunchOptions

#: the options that print or save something about the selected runs and run nothing
COMMANDS = ("print_config", "save_config", "print_named_configs", "print_dependencies")
DEFAULT_HEARTBEAT = 10.0
#: options of the object stores and notifiers, each with an ini key of its name
_REMOTE = ("s3", "s3_endpoint", "s3_region", "gcs", "slack", "telegram", "notify")
DEFAULT_STORE_RETRY = 120.0


def _run_id(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run id; ids are integers from 1")
    return int(value)


def _count(value: str) -> int:
    """A number of seeds: an integer from 1 (an argparse type)."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seeds (an integer "
                                         "from 1, e.g. 10)")
    return int(value)


def _duration(value: str) -> float:
    """A command-line number of seconds, 0 or more (an argparse type)."""
    seconds = _nonnegative(value)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (0 or more)")
    return seconds


def _nonnegative(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds < float("inf") else None


def register(parser: pytest.Parser) -> None:
    """Add the options and ini keys (``pytest_addoption``)."""
    group = parser.getgroup("sacred", "experiment tracking (pytest-sacred)")
    add = group.addoption
    add("--sacred-with", action="append", metavar="KEY=VALUE",
        help="set a config entry (repeatable; nested: optimizer.lr=0.01; values are Python "
             "literals, else strings)")
    add("--sacred-named-config", action="append", metavar="NAME",
        help="apply a named config, or a .json/.yaml file of entries, to every experiment "
             "(repeatable, applied in order)")
    add("--sacred-seed", type=int, metavar="N", help="root seed of every run")
    add("--sacred-seeds", type=_count, metavar="N",
        help="run each experiment variant N times, with seeds derived from the root seed "
             "(--sacred-seed, else a random one): one group of runs per variant, summarised "
             "by mean and spread (wins over the experiment marker's seeds=N)")
    add("--sacred-name", metavar="NAME", help="experiment name recorded for the runs")
    add("--sacred-comment", metavar="TEXT", help="comment stored in meta.comment")
    add("--sacred-id", type=_run_id, metavar="ID", help="id of the (single) run")
    add("--sacred-priority", type=float, metavar="N", help="stored in meta.priority")
    add("--sacred-queue", action="store_true",
        help="record the selected runs as QUEUED instead of running them")
    add("--sacred-enforce-clean", action="store_true",
        help="refuse to run when the experiments' git repository has uncommitted changes")
    add("--sacred-heartbeat", type=float, metavar="SECONDS",
        help="seconds between heartbeats (default 10; 0 or less: only the final beat)")
    add("--sacred-system-metrics", action="store_true",
        help="record CPU, memory, disk and GPU use as system.* metrics at each heartbeat "
             "(needs the 'system' extra: psutil)")
    add("--sacred-print-config", action="store_true",
        help="print each selected run's config with docs and changes; run nothing")
    add("--sacred-save-config", metavar="FILE",
        help="save the selected run's config to a .json/.yaml file; run nothing")
    add("--sacred-print-named-configs", action="store_true",
        help="list the named configs visible to the selected experiments; run nothing")
    add("--sacred-print-dependencies", action="store_true",
        help="print the selected experiments' packages, sources and repositories; run nothing")
    add("--sacred-capture-env", metavar="NAME,...",
        help="environment variables to record in host.ENV")
    add("--sacred-file-storage", metavar="DIR",
        help="store runs in DIR in Sacred's FileStorage layout (default: runs/ at the rootdir)")
    add("--sacred-unobserved", action="store_true", help="store nothing")
    add("--sacred-mongo", metavar="DB|HOST:PORT:DB|URL",
        help="store runs in MongoDB (Sacred's layout: Omniboard and Incense read it)")
    add("--sacred-mongo-collection", metavar="NAME", help="runs collection (default: runs)")
    add("--sacred-observer", action="append", metavar="MODULE:FACTORY",
        help="also send events to the observer FACTORY() returns: a Sacred observer "
             "(e.g. neptune-sacred's) or a pytest-sacred one; repeatable")
    # cluster sweeps, queue workers, re-runs (checked in pytest_sacred/launchers/options.py)
    add("--sacred-launcher", choices=("slurm", "local"),
        help="run the selected variants as one submitit job array instead of in this "
             "session: 'slurm' (needs sinfo/sbatch) or 'local' (submitit's local executor)")
    add("--sacred-slurm-partition", metavar="NAME", help="Slurm partition of the array")
    add("--sacred-slurm-time", metavar="MIN|[D-]HH:MM[:SS]",
        help="time limit of each task (default 60 minutes); Slurm rounds it up to whole "
             "minutes, the local executor keeps the seconds (e.g. 0:20 is 20 s)")
    add("--sacred-slurm-cpus", metavar="N", help="CPUs per task")
    add("--sacred-slurm-gpus", metavar="N", help="GPUs per task")
    add("--sacred-slurm-mem", metavar="SIZE", help="memory per task, e.g. 4G or 500M")
    add("--sacred-slurm-array-parallelism", metavar="N",
        help="at most N array tasks run at once")
    add("--sacred-slurm-chunk", metavar="N", help="variants per array task (default 1)")
    add("--sacred-slurm-workers", metavar="N",
        help="with --sacred-run-queued: how many worker tasks to start (default 2)")
    add("--sacred-slurm-config", metavar="FILE.yaml",
        help="Slurm parameters from a YAML file (keys: partition, time, cpus, gpus, mem, "
             "array_parallelism, chunk, workers, folder, requeue); options given override it")
    add("--sacred-slurm-folder", metavar="DIR",
        help="submitit's folder for pickles and task logs, on a path every node sees "
             "(default: slurm-logs/ at the rootdir)")
    add("--sacred-slurm-requeue", metavar="N",
        help="make each task checkpointable: signalled for its time limit or preemption, "
             "its run is saved (points, checkpoint) and the task requeued to resume it under "
             "the same id, up to N times; then the run ends TIMEOUT")
    add("--sacred-slurm-cancel-on-interrupt", action="store_true",
        help="Ctrl-C cancels the array without asking")
    add("--sacred-run-queued", action="store_true",
        help="be a worker: claim QUEUED runs of the collected experiments one at a time and "
             "run each with its stored config and seed (MongoDB or SQL store)")
    add("--sacred-worker-idle", type=float, metavar="SECONDS",
        help="a worker waits this long for more queued runs before it stops (default 0)")
    add("--sacred-requeue-dead", action="store_true",
        help="with --sacred-run-queued: first put runs shown DIED? back in the queue")
    add("--sacred-rerun", type=_run_id, metavar="ID",
        help="run stored run ID again with its stored config and seed, as a new run "
             "(meta.rerun_of); warns when sources, dependencies or the commit changed")
    add("--sacred-rerun-from", metavar="STORE",
        help="the store to read --sacred-rerun's run from (default: the session's store)")
    add("--sacred-resume", type=_run_id, nargs="+", metavar="ID",
        help="continue stored INTERRUPTED, TIMEOUT, FAILED or DIED? runs under their own ids, "
             "with their config and seed: metrics, output, info and tmp_path/checkpoint go on "
             "from what the session's first store holds")
    add("--sacred-tinydb", metavar="DIR",
        help="store runs in DIR as Sacred's TinyDbObserver does (metadata.json + hashfs/; "
             "Sacred's TinyDbReader reads it)")
    add("--sacred-sql", metavar="URL",
        help="store runs in Sacred's SqlObserver tables at an SQLAlchemy URL "
             "(sqlite:///runs.db, postgresql://user@host/db, mysql+pymysql://...)")
    add("--sacred-lock-timeout", metavar="SECONDS",
        help="how long the TinyDB and SQLite stores wait for a lock another process holds "
             "(default 30)")
    parser.addini("sacred_tinydb", "TinyDB store directory, relative to the ini file")
    parser.addini("sacred_sql", "SQL store: an SQLAlchemy URL")
    parser.addini("sacred_lock_timeout", "seconds to wait for a TinyDB/SQLite lock (default 30)")
    # object stores (stores/s3, stores/gcs) and notifications (notify/)
    add("--sacred-s3", metavar="s3://BUCKET/PREFIX",
        help="store runs in S3 in Sacred's FileStorage layout (boto3; bucket created if "
             "missing; endpoint, region and credentials from the AWS configuration)")
    add("--sacred-s3-endpoint", metavar="URL",
        help="S3 endpoint URL (default: AWS_ENDPOINT_URL or AWS's own)")
    add("--sacred-s3-region", metavar="REGION", help="S3 region (default: the AWS config's)")
    add("--sacred-gcs", metavar="gs://BUCKET/PREFIX",
        help="store runs in Google Cloud Storage in Sacred's FileStorage layout "
             "(google-cloud-storage; STORAGE_EMULATOR_HOST for an emulator)")
    add("--sacred-slack", metavar="FILE",
        help="send run messages to Slack: a .json/.yaml file with webhook_url (and bot_name, "
             "icon, completed_text, interrupted_text, failed_text)")
    add("--sacred-telegram", metavar="FILE",
        help="send run messages to Telegram: a .json/.yaml file with token, chat_id (and "
             "silent_completion, proxy_url, api_url, *_text)")
    add("--sacred-notify", metavar="runs|session",
        help="one message per run (runs) or one summary at the end (session); default: "
             "runs for up to 10 selected runs, session above")
    for name, text in (("sacred_s3", "S3 store: s3://bucket/prefix"),
                       ("sacred_s3_endpoint", "S3 endpoint URL"),
                       ("sacred_s3_region", "S3 region"),
                       ("sacred_gcs", "GCS store: gs://bucket/prefix"),
                       ("sacred_slack", "Slack notifier config file"),
                       ("sacred_telegram", "Telegram notifier config file"),
                       ("sacred_notify", "runs or session")):
        parser.addini(name, text)
    # regression checks (DESIGN section 6; rules parsed by pytest_sacred.compare)
    add("--sacred-compare", metavar="last|best|ID",
        help="compare each run with an earlier COMPLETED run of the same experiment and "
             "config (seed aside): the latest, the best result, or run ID; the change is "
             "shown in the summary")
    add("--sacred-compare-fail", action="append", metavar="EXPR",
        help="fail the test when the change goes the bad way by more than the tolerance: "
             "result:-5%%, metric:loss:+2%%, result:-0.01, result:0 (repeatable; implies "
             "--sacred-compare=last)")
    add("--sacred-compare-test", choices=("welch", "bootstrap"), default=None,
        help="the test behind a rule with a confidence (result:-5%%@95) over groups of "
             "seeds: welch (Welch's t-test, the default) or bootstrap (BCa); both need "
             "scipy: pip install 'pytest-sacred[stats]'")
    add("--sacred-compare-store", metavar="STORE",
        help="look baselines up in STORE (a directory, e.g. a committed baseline/, or a "
             "MongoDB) instead of the session's first readable store")
    add("--sacred-save-baseline", metavar="DIR",
        help="copy the runs that completed (and passed their checks) into the file store "
             "DIR, replacing earlier copies of the same variant; meant to be committed")
    add("--sacred-baseline-artifacts", action="store_true",
        help="with --sacred-save-baseline: copy the runs' artifacts too")
    add("--sacred-report", metavar="FILE.html",
        help="at the end, write one HTML page of this session's runs and their baselines "
             "(table, curves, each run whole; opens offline)")
    # -- a store that does not answer: retries, then a spill file --
    add("--sacred-store-retry", type=_duration, metavar="SECONDS",
        help="how long writes to a store that does not answer are retried before they go to "
             "a spill file (runs/_spill/) for `pytest-sacred replay` (default 120)")
    parser.addini("sacred_store_retry", "seconds a store that does not answer is retried "
                                         "(default 120)")
    parser.addini("sacred_file_storage", "directory of the file store, relative to the ini file")
    parser.addini("sacred_mongo", "MongoDB store: DB, HOST:PORT:DB or a mongodb:// URL")
    parser.addini("sacred_mongo_collection", "MongoDB runs collection")
    parser.addini("sacred_heartbeat", "seconds between heartbeats (default 10)")


@dataclass(frozen=True)
class Options:
    """The session's pytest-sacred options, parsed and checked."""

    #: ``--sacred-with``, parsed into nested updates
    config_updates: dict[str, Any] = field(default_factory=dict)
    #: ``--sacred-named-config``: (label, updates) for files, (name, None) for names
    named_configs: tuple[tuple[str, dict[str, Any] | None], ...] = ()
    seed: int | None = None
    #: ``--sacred-seeds``: runs per variant (a group), winning over the marker's ``seeds=``
    seeds: int | None = None
    #: the root the seeds of a group derive from: ``--sacred-seed``, else random (one per
    #: session: the xdist controller hands its own to its workers)
    seed_root: int = 0
    #: names the groups of this session in the stores (``meta.seeds.group``)
    group_session: str = ""
    name: str | None = None
    comment: str | None = None
    run_id: int | None = None
    priority: float | None = None
    queue: bool = False
    enforce_clean: bool = False
    heartbeat: float = DEFAULT_HEARTBEAT
    #: ``--sacred-system-metrics``: system.* metrics sampled at each heartbeat
    system_metrics: bool = False
    #: seconds a store that does not answer is retried before its events are spilled
    store_retry: float = DEFAULT_STORE_RETRY
    print_config: bool = False
    save_config: str | None = None
    print_named_configs: bool = False
    print_dependencies: bool = False
    capture_env: tuple[str, ...] = ()
    #: the file store's directory when one was given (command line or ini)
    file_storage: Path | None = None
    unobserved: bool = False
    mongo: str | None = None
    mongo_collection: str | None = None
    observers: tuple[str, ...] = ()
    tinydb: Path | None = None
    sql: str | None = None
    #: seconds the TinyDB and SQLite stores wait for another process's lock
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    s3: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    gcs: str | None = None
    slack: str | None = None
    telegram: str | None = None
    notify: str | None = None
    #: False in a pytest-xdist worker (the controller sends the notifications)
    main_process: bool = True
    compare: str | None = None
    compare_fail: tuple[str, ...] = ()
    compare_store: str | None = None
    #: the test of rules with a confidence: ``welch`` or ``bootstrap``
    compare_test: str = "welch"
    save_baseline: str | None = None
    baseline_artifacts: bool = False
    #: ``--sacred-report``: the HTML page written at the end of the session
    report: Path | None = None
    #: every ``--sacred-*`` option as given, for ``meta.options`` (passwords masked)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    #: launcher, queue-worker and re-run options, checked (``None``: none given, and
    #: ``pytest_sacred.launchers`` is never imported)
    launch: LaunchOptions | None = None

    @property
    def launches(self) -> bool:
        """A launcher, queue worker or re-run takes over (``pytest_sacred.launchers``)."""
        return self.launch is not None

    @property
    def command(self) -> bool:
        """Whether a print/save command replaces running the experiments."""
        return any(getattr(self, name) for name in COMMANDS)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Options:
        """Parse the options; raises ``pytest.UsageError`` naming a bad value."""
        check_values_taken_for_paths(config)
        option = config.option
        try:
            updates = parse_assignments(option.sacred_with or [])
            named = tuple(
                (name, load_config_file(name) if is_config_file(name) else None)
                for name in option.sacred_named_config or [])
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        return cls(
            config_updates=updates,
            named_configs=named,
            seed=option.sacred_seed,
            seeds=option.sacred_seeds,
            **_seed_root(config),
            name=option.sacred_name,
            comment=option.sacred_comment,
            run_id=option.sacred_id,
            priority=option.sacred_priority,
            queue=option.sacred_queue,
            enforce_clean=option.sacred_enforce_clean,
            heartbeat=_heartbeat(config),
            system_metrics=option.sacred_system_metrics,
            store_retry=_seconds(config, "sacred_store_retry", DEFAULT_STORE_RETRY),
            print_config=option.sacred_print_config,
            save_config=option.sacred_save_config,
            print_named_configs=option.sacred_print_named_configs,
            print_dependencies=option.sacred_print_dependencies,
            capture_env=tuple(n.strip() for n in (option.sacred_capture_env or "").split(",")
                              if n.strip()),
            file_storage=_path(config, "sacred_file_storage"),
            unobserved=option.sacred_unobserved,
            mongo=_value(config, "sacred_mongo"),
            mongo_collection=_value(config, "sacred_mongo_collection"),
            observers=tuple(option.sacred_observer or ()),
            tinydb=_path(config, "sacred_tinydb"),
            sql=_value(config, "sacred_sql"),
            lock_timeout=_seconds(config, "sacred_lock_timeout", DEFAULT_LOCK_TIMEOUT),
            **{name: _value(config, "sacred_" + name) for name in _REMOTE},
            main_process=not hasattr(config, "workerinput"),
            launch=_launch(config),
            compare=option.sacred_compare,
            compare_fail=tuple(option.sacred_compare_fail or ()),
            compare_store=option.sacred_compare_store or None,
            compare_test=option.sacred_compare_test or "welch",
            save_baseline=option.sacred_save_baseline or None,
            baseline_artifacts=option.sacred_baseline_artifacts,
            report=_report(option.sacred_report),
            meta=_meta(config),
        )


def _report(given: str | None) -> Path | None:
    """``--sacred-report``'s file, checked before anything runs."""
    if not given:
        return None
    path = Path(given).absolute()
    if not path.parent.is_dir():
        raise pytest.UsageError(f"--sacred-report {given}: directory {str(path.parent)!r} "
                                "does not exist")
    return path


def _seed_root(config: pytest.Config) -> dict[str, Any]:
    """The session's seed root and group name: an xdist worker takes its controller's (see
    ``roles.Controller.pytest_configure_node``), so that the seeds of a group agree."""
    given = getattr(config, "workerinput", {}).get("sacred_seeds")
    if given is not None:
        return {"seed_root": int(given["root"]), "group_session": str(given["group"])}
    import secrets
    import uuid

    root = config.option.sacred_seed
    return {"seed_root": secrets.randbelow(10**9) + 1 if root is None else root,
            "group_session": uuid.uuid4().hex}


def check_values_taken_for_paths(config: pytest.Config) -> None:
    """Refuse a session whose rootdir or ini file changed because pytest took the value of
    a ``--sacred-*`` option, written as a separate argument, for a test path.

    pytest chooses both before it loads plugins, when every argument that is not an option
    of pytest's own and names an existing path counts as a test path. The default store
    (``runs/`` at the rootdir), the node ids, the sources recorded relative to the rootdir
    and pytest's cache would move with the rootdir, and the ini file's settings (``addopts``
    and the ``sacred_*`` keys among them) could be lost: nothing would be stored where the
    user expects. Only a choice that actually changed is refused; a value inside the
    project usually changes nothing. Costs nothing unless such a value names a path.
    """
    args = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
            *(str(arg) for arg in config.invocation_params.args)]
    candidates = [(option, value) for option, value in zip(args, args[1:], strict=False)
                  if option.startswith("--sacred-") and "=" not in option
                  and not value.startswith("-") and _names_a_path(value)]
    if not candidates:
        return
    from .compat import setup_for

    paths, rootpath, inipath = setup_for(config, args)
    taken = [(option, value) for option, value in candidates if value not in paths]
    if not taken or (config.rootpath, config.inipath) == (rootpath, inipath):
        return
    changes = []
    if config.rootpath != rootpath:
        changes.append(f"the rootdir became {config.rootpath} instead of {rootpath}")
    if config.inipath != inipath:
        changes.append(f"the ini file {inipath} was not read" if config.inipath is None
                       else f"the ini file {config.inipath} was read instead of "
                            f"{inipath or 'none'}")
    values = ", ".join(f"{value!r} (the value of {option})" for option, value in taken)
    raise pytest.UsageError(
        f"pytest took {values} for a test path: it chooses the rootdir and ini file before "
        f"it knows pytest-sacred's options, so {' and '.join(changes)}. Write the value "
        "after '=': " + " ".join(f"{option}={value}" for option, value in taken))


def _names_a_path(value: str) -> bool:
    """Whether pytest would take ``value`` for an existing test path (``path::name`` too)."""
    try:
        return Path(value.split("::", 1)[0]).exists()
    except (OSError, ValueError):
        return False


def _value(config: pytest.Config, name: str) -> Any:
    """The command-line value, else the ini key of the same name, else ``None``."""
    value = config.getoption(name)
    if value in (None, "", []):
        value = config.getini(name)
    # 0 is a value (--sacred-store-retry=0: spill at once), only absence means the default
    return None if value in (None, "", []) else value


def _path(config: pytest.Config, name: str) -> Path | None:
    given = config.getoption(name)
    if given is not None:
        return Path(given)
    ini = config.getini(name)
    if not ini:
        return None
    path: Path = Path(config.inipath.parent if config.inipath else config.rootpath) / ini
    return path


def _launch(config: pytest.Config) -> LaunchOptions | None:
    """The launcher, queue-worker and re-run options, when one of them is given."""
    option = config.option
    if not _launches(option):
        return None
    from .launchers.options import read

    return read(config)


def _launches(option: Any) -> bool:
    """Whether an option of the launchers, queue workers or re-runs is given."""
    return bool(option.sacred_launcher or option.sacred_run_queued or option.sacred_queue
                or option.sacred_rerun is not None or option.sacred_worker_idle is not None
                or bool(option.sacred_resume)
                or option.sacred_requeue_dead
                or any(v is not None and v is not False for k, v in vars(option).items()
                       if k.startswith("sacred_slurm_")))


def _seconds(config: pytest.Config, name: str, default: float) -> float:
    """A number of seconds >= 0 from the command line (checked by :func:`_duration` or
    argparse already) or the ini file."""
    value = _value(config, name)
    if value is None:
        return default
    seconds = _nonnegative(value)
    if seconds is None:
        raise pytest.UsageError(f"{name} = {value!r} is not a number of seconds >= 0 "
                                f"(e.g. {default:g})")
    return seconds


def _heartbeat(config: pytest.Config) -> float:
    given = config.getoption("sacred_heartbeat")
    if given is not None:
        return float(given)
    ini = config.getini("sacred_heartbeat")
    if not ini:
        return DEFAULT_HEARTBEAT
    try:
        return float(ini)
    except ValueError:
        raise pytest.UsageError(f"ini option sacred_heartbeat = {ini!r} is not a number of "
                                "seconds (e.g. 10, or 0 for the final beat only)") from None


def _meta(config: pytest.Config) -> dict[str, Any]:
    from .redact import redact_strings

    meta = {}
    for dest, value in sorted(vars(config.option).items()):
        if dest.startswith("sacred_"):
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            meta["--" + dest.replace("_", "-")] = value
    result: dict[str, Any] = redact_strings(meta)
    return result
