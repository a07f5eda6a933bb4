"""The README's tutorial, run as a newcomer runs it: every ``$`` command of its console
blocks, in order, as printed, from a copy of the repository's ``examples/`` and
``pyproject.toml`` (so the repository's own files are never edited by the ``sed`` steps).

The commands are read from README.md, not copied here: a changed tutorial fails this test
until the expected outcome of each of its commands is written down below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL_HEADING = "## Five minutes: your first experiment"

RUN = "pytest examples/tutorial/ --sacred-file-storage=tutorial-runs"
CHECK = f"{RUN} --sacred-compare=last --sacred-compare-fail=result:-5%"
BREAK = ("sed -i 's/w -= learning_rate \\* grad_w/w -= learning_rate * grad_b/' "
         "examples/tutorial/test_line.py")
FIX = ("sed -i 's/w -= learning_rate \\* grad_b/w -= learning_rate * grad_w/' "
       "examples/tutorial/test_line.py")

#: each command of the tutorial, in order, with its exit code and text its output must hold
EXPECTED: list[tuple[str, int, list[str]]] = [
    (RUN, 0, ["2 passed", "tutorial-runs/1", "tutorial-runs/2"]),
    ("pytest-sacred ls tutorial-runs/", 0, ["line_fit", "noise", "train.loss.last"]),
    ("pytest-sacred show tutorial-runs/ 1", 0, ["learning_rate = 0.2", "line.txt"]),
    ("pytest-sacred plot tutorial-runs/ 1 2 --metric train.loss -o loss.png", 0, []),
    (CHECK, 0, ["2 passed", "vs baseline", "#1:", "#2:"]),
    (BREAK, 0, []),
    (CHECK, 1, ["2 failed", "regression check failed: run 5 vs baseline run 3",
                "a drop of the result of more than 5 % fails", "FAILS result:-5%"]),
    (FIX, 0, []),
    (CHECK, 0, ["2 passed"]),
]

pytestmark = pytest.mark.system  # nine sessions and commands in subprocesses


def tutorial_commands(readme: str) -> list[str]:
    """The ``$`` lines of the console blocks in the tutorial's section, in order."""
    section = readme.split(TUTORIAL_HEADING, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        commands += [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    return commands


def test_the_readme_lists_the_commands_this_test_expects() -> None:
    commands = tutorial_commands((ROOT / "README.md").read_text())
    assert commands == [command for command, _, _ in EXPECTED]


def test_the_tutorials_file_is_the_one_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(TUTORIAL_HEADING, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    source = (ROOT / "examples" / "tutorial" / "test_line.py").read_text()
    assert shown.strip() in source


def test_the_resume_snippet_is_the_examples_code() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("**Stop a long run and resume it.**", 1)[1].split(
        "```python\n", 1)[1].split("```", 1)[0]
    source = (ROOT / "examples" / "resume" / "test_long_training.py").read_text()
    lines = [line.strip() for line in shown.strip().splitlines()]
    assert lines and all(line in source for line in lines)


def test_the_tutorial_runs_as_printed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the tutorial's plot needs matplotlib "
                        "(the examples extra)")
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "runs"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # the interpreter running this suite, and its scripts (pytest, pytest-sacred), first
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)
    for command, code, texts in EXPECTED:
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        assert done.returncode == code, f"$ {command}\n{done.stdout}"
        for text in texts:
            assert text in done.stdout, f"$ {command}: no {text!r} in\n{done.stdout}"
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = sorted((tmp_path / "tutorial-runs").glob("[0-9]*/run.json"),
                  key=lambda p: int(p.parent.name))
    assert len(runs) == 8
    results = [json.loads((p.parent / "run.json").read_text())["result"] for p in runs]
    # runs 5 and 6 are the broken code's; the fixed code's results are back where they were
    assert all(r > 0.9 for i, r in enumerate(results) if i not in (4, 5)), results
    assert all(r < 0.9 for r in results[4:6]), results
    assert (tmp_path / "tutorial-runs" / "1" / "line.txt").read_text().startswith("y = ")
