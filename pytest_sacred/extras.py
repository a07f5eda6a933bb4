"""Optional dependencies, imported when a feature needs them, with the extra that has them.

Every optional package the plugin, its stores, launchers and the ``pytest-sacred`` command
import is listed in :data:`PACKAGES`. A feature imports its package where it needs it (a
plain ``import``, or :func:`require` to name a purpose of its own); the entry points (the
plugin's set-up hooks, the command line, :func:`optional_imports`) turn the missing import into
:class:`MissingExtra`, whose message names the ``pip install`` to run. pytest reports it as
a usage error (exit 4), the command line as one line (exit 1).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType


class MissingExtra(ImportError):
    """An optional package is not installed; the message names the pip command."""


@dataclass(frozen=True)
class Package:
    """An optional package: the extra that installs it, its name on PyPI, what needs it."""

    extra: str
    pip_name: str
    needed_by: str


#: top-level import name -> the package; a missing module not listed here is a broken
#: installation (or a bug), not a missing extra, and is left alone
PACKAGES: dict[str, Package] = {
    "pymongo": Package("mongo", "pymongo", "the MongoDB store"),
    "bson": Package("mongo", "pymongo", "the MongoDB store"),
    "gridfs": Package("mongo", "pymongo", "the MongoDB store"),
    "tinydb": Package("tinydb", "tinydb", "the TinyDB store"),
    "tinydb_serialization": Package("tinydb", "tinydb-serialization", "the TinyDB store"),
    "hashfs": Package("tinydb", "hashfs", "the TinyDB store"),
    "filelock": Package("tinydb", "filelock", "the TinyDB store"),
    "sqlalchemy": Package("sql", "SQLAlchemy", "the SQL store"),
    "psycopg": Package("postgres", "psycopg[binary]", "the PostgreSQL store"),
    "pymysql": Package("mysql", "pymysql", "the MySQL/MariaDB store"),
    "boto3": Package("s3", "boto3", "the S3 store"),
    "botocore": Package("s3", "boto3", "the S3 store"),
    "google": Package("gcs", "google-cloud-storage", "the GCS store"),
    "yaml": Package("yaml", "PyYAML", "reading and writing YAML"),
    "submitit": Package("slurm", "submitit", "the Slurm launcher"),
    "pandas": Package("analysis", "pandas", "load_runs, get_run and exports"),
    "matplotlib": Package("analysis", "matplotlib", "plotting"),
    "pyarrow": Package("parquet", "pyarrow", "export to .parquet"),
    "psutil": Package("system", "psutil", "--sacred-system-metrics"),
    "scipy": Package("stats", "scipy", "a group's interval or a rule with a confidence"),
}


def missing_extra(module: str, purpose: str | None = None,
                  extra: str | None = None) -> MissingExtra:
    """The error for ``module`` (listed in :data:`PACKAGES`) not being installed, naming
    what needs it (``purpose``, else the package's usual user) and the extra to install
    (``extra``, else the package's own)."""
    package = PACKAGES[module.partition(".")[0]]
    return MissingExtra(f"{purpose or package.needed_by} needs {package.pip_name}, which is "
                        f"not installed: pip install 'pytest-sacred[{extra or package.extra}]'")


def require(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """``import module``, or :class:`MissingExtra` naming what needs it (``purpose``, else
    the package's usual user) and ``pip install 'pytest-sacred[extra]'`` (``extra``, else
    the package's own)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        failed = (exc.name or module).partition(".")[0]
        if failed != module.partition(".")[0] and failed not in PACKAGES:
            raise  # the package is there but broken: its own error says more
        raise missing_extra(failed if failed in PACKAGES else module, purpose, extra
                            ) from None


def as_missing_extra(exc: BaseException) -> MissingExtra | None:
    """``exc`` as :class:`MissingExtra` when it is one, or the failed import of a package
    listed in :data:`PACKAGES`; ``None`` for anything else."""
    if isinstance(exc, MissingExtra):
        return exc
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.partition(".")[0]
        if top in PACKAGES:
            return missing_extra(top)
    return None


@contextmanager
def optional_imports() -> Iterator[None]:
    """Raise the failed import of an optional package inside the block as
    :class:`MissingExtra` (for callers of the Python API); every other error passes."""
    try:
        yield
    except ImportError as exc:
        missing = as_missing_extra(exc)
        if missing is None or missing is exc:
            raise
        raise missing from None


@contextmanager
def missing_as_usage_error() -> Iterator[None]:
    """Inside the plugin's set-up hooks: a missing optional package is a usage error
    (exit 4) naming the extra, not an internal error."""
    try:
        yield
    except ImportError as exc:
        missing = as_missing_extra(exc)
        if missing is None:
            raise
        import pytest

        raise pytest.UsageError(str(missing)) from None
