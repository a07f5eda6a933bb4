"""A store, notifier, launcher or command whose optional package is not installed: pytest
stops with a usage error (exit 4) and the command line with one line (exit 1), both naming
the extra to install; nothing runs and no traceback is shown.

Each case runs in a fresh interpreter whose import system acts as if the package were not
installed (a finder in front of ``sys.meta_path`` refusing it), as on a machine without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system  # every test starts a fresh interpreter

try:
    from .stored_runs import REPO
except ImportError:
    from stored_runs import REPO

BLOCKER = '''
import importlib.abc
import sys

BLOCKED = {blocked!r}


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Finds the blocked packages nowhere, as when they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


for _loaded in [m for m in sys.modules if m.partition(".")[0] in BLOCKED]:
    del sys.modules[_loaded]
sys.meta_path.insert(0, _NotInstalled())
'''

EXPERIMENT = '''
import pathlib
import pytest

@pytest.mark.experiment
def test_exp():
    pathlib.Path("ran").touch()
'''


def _message(needs: str, package: str, extra: str) -> str:
    return f"{needs} needs {package}, which is not installed: pip install 'pytest-sacred[{extra}]'"


#: (package hidden, the pytest arguments, files to write, what the message says needs it,
#: the PyPI name, the extra)
SESSIONS = {
    "sql": ("sqlalchemy", ["--sacred-sql", "sqlite:///runs.db"], {},
            "the SQL store", "SQLAlchemy", "sql"),
    "s3": ("boto3", ["--sacred-s3", "s3://bucket/runs"], {},
           "the S3 store", "boto3", "s3"),
    "s3-botocore": ("botocore", ["--sacred-s3", "s3://bucket/runs"], {},
                    "the S3 store", "boto3", "s3"),
    "gcs": ("google", ["--sacred-gcs", "gs://bucket/runs"], {},
            "the GCS store", "google-cloud-storage", "gcs"),
    "tinydb": ("hashfs", ["--sacred-tinydb", "tiny"], {},
               "the TinyDB store", "hashfs", "tinydb"),
    "mongo": ("pymongo", ["--sacred-mongo", "mongodb://127.0.0.1:1/db"], {},
              "the MongoDB store", "pymongo", "mongo"),
    "launcher": ("submitit", ["--sacred-launcher=local"], {},
                 "--sacred-launcher", "submitit", "slurm"),
    "notifier": ("yaml", ["--sacred-slack", "slack.yaml"], {"slack.yaml": "url: x\n"},
                 "--sacred-slack file 'slack.yaml' (YAML)", "PyYAML", "yaml"),
    "named-config": ("yaml", ["--sacred-named-config", "fast.yaml"], {"fast.yaml": "a: 1\n"},
                     "named config file 'fast.yaml' (YAML)", "PyYAML", "yaml"),
    "save-config": ("yaml", ["--sacred-save-config", "config.yaml"], {},
                    "--sacred-save-config config.yaml", "PyYAML", "yaml"),
    "compare-store": ("sqlalchemy", ["--sacred-compare=last", "--sacred-compare-fail=result:-5%",
                                     "--sacred-compare-store", "sqlite:///old.db"], {},
                      "the SQL store", "SQLAlchemy", "sql"),
}


@pytest.mark.parametrize("case", SESSIONS.values(), ids=SESSIONS.keys())
def test_a_session_names_the_extra_to_install(pytester, case):
    blocked, args, files, needs, package, extra = case
    pytester.makeconftest(BLOCKER.format(blocked={blocked}))
    pytester.makepyfile(test_exp=EXPERIMENT)
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"ERROR: {_message(needs, package, extra)}"])
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert not (pytester.path / "ran").exists()
    runs = pytester.path / "runs"  # the default store may be opened; it holds no run
    assert not runs.exists() or not [p for p in runs.iterdir() if p.name.isdigit()]


def _cli(blocked: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = (BLOCKER.format(blocked={blocked})
            + "from pytest_sacred.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)


#: (package hidden, the command, what the message says needs it, the PyPI name, the extra)
COMMANDS = {
    "sql": ("sqlalchemy", ["ls", "sqlite:///runs.db"], "the SQL store", "SQLAlchemy", "sql"),
    "sql-show": ("sqlalchemy", ["show", "sqlite:///runs.db", "1"],
                 "the SQL store", "SQLAlchemy", "sql"),
    "mongo": ("pymongo", ["ls", "mongodb://127.0.0.1:1/db"],
              "the MongoDB store", "pymongo", "mongo"),
    # the reader decodes metadata.json itself; it needs hashfs for the stored files
    "tinydb": ("hashfs", ["ls", "tiny"], "the TinyDB store", "hashfs", "tinydb"),
    "s3": ("boto3", ["ls", "s3://bucket/runs"], "the S3 store", "boto3", "s3"),
    "gcs": ("google", ["ls", "gs://bucket/runs"], "the GCS store", "google-cloud-storage",
            "gcs"),
    "plot": ("matplotlib", ["plot", "runs", "1", "--metric", "loss", "-o", "x.png"],
             "plot", "matplotlib", "analysis"),
}


@pytest.mark.parametrize("case", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_names_the_extra_in_one_line(tmp_path, case):
    blocked, args, needs, package, extra = case
    (tmp_path / "tiny").mkdir()  # a TinyDB store: its metadata.json
    (tmp_path / "tiny" / "metadata.json").write_text(json.dumps({"_default": {}}))
    (tmp_path / "runs").mkdir()  # an empty file store
    proc = _cli(blocked, *args, cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.splitlines() == [f"pytest-sacred {args[0]}: "
                                        f"{_message(needs, package, extra)}"]
    assert not (tmp_path / "runs.db").exists()


def test_a_broken_installation_is_not_called_a_missing_extra(tmp_path):
    """A package the project does not list (here a dependency of botocore) missing means
    an installation is broken: its own error is shown, not advice to install an extra."""
    code = BLOCKER.format(blocked={"jmespath"}) + (
        "from pytest_sacred.extras import MissingExtra, require\n"
        "try:\n"
        "    require('boto3')\n"
        "except MissingExtra as exc:\n"
        "    print('missing extra:', exc)\n"
        "except ModuleNotFoundError as exc:\n"
        "    print('not found:', exc.name)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert proc.stdout.strip() == "not found: jmespath", proc.stderr


def test_the_python_api_raises_missing_extra(tmp_path):
    pytest.importorskip("pandas")
    code = BLOCKER.format(blocked={"sqlalchemy"}) + (
        "from pytest_sacred import load_runs\n"
        "from pytest_sacred.extras import MissingExtra\n"
        "try:\n"
        "    load_runs('sqlite:///runs.db')\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert proc.stdout.strip() == _message("the SQL store", "SQLAlchemy", "sql"), proc.stderr
