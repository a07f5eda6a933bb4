"""The public decorators keep the decorated function's signature for type checkers, and
the package says it is typed (``py.typed``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.system  # mypy in a subprocess

ROOT = Path(__file__).resolve().parent.parent

SNIPPET = '''
from pytest_sacred import capture, config, named_config

@config
def C() -> float:
    return 1.0

@config(name="g")
def gamma(C: float) -> float:
    return 0.7 / C

@named_config
def wide() -> dict[str, float]:
    return {"C": 10.0}

@named_config(name="narrow")
def _narrow() -> dict[str, float]:
    return {"C": 0.1}

@capture
def helper(x: int, C: float = 0.0) -> str:
    return ""

reveal_type(C)
reveal_type(gamma)
reveal_type(wide)
reveal_type(_narrow)
reveal_type(helper)
'''


def test_py_typed_ships_with_the_package():
    assert (ROOT / "pytest_sacred" / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '[tool.setuptools.package-data]\npytest_sacred = ["py.typed"]' in pyproject


def test_decorated_functions_keep_their_signatures(tmp_path):
    pytest.importorskip("mypy", reason="the type check needs mypy (test extra)")
    (tmp_path / "snippet.py").write_text(textwrap.dedent(SNIPPET))
    # pytest's own code is not what is checked here: skipping it keeps this at a second
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n[mypy-pytest.*,_pytest.*,pluggy.*]\nfollow_imports = skip\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), "snippet.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "MYPYPATH": str(ROOT)})
    revealed = [line.split("Revealed type is ")[1] for line in result.stdout.splitlines()
                if "Revealed type is" in line]
    assert revealed == ['"def () -> float"', '"def (C: float) -> float"',
                        '"def () -> dict[str, float]"', '"def () -> dict[str, float]"',
                        '"def (x: int, C: float =) -> str"'], result.stdout + result.stderr
