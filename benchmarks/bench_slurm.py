"""End-to-end time of a 16-variant sweep on the one-node Slurm cluster against ``-n 2``.

Baseline: the same 16 variants with pytest-xdist ``-n 2`` on this machine (2 cores, as
many as the Slurm node has). Both store every run in a file store. Each variant burns
``BURN_S`` of CPU. One run of each, side by side; prints both wall times (submit to exit)
and the ratio slurm / -n 2. Needs a running cluster: ``sudo bash tests/slurm/start.sh``.

    python benchmarks/bench_slurm.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import PYTEST_FLAGS, PYTHON, REPO

VARIANTS, BURN_S = 16, 1.0

TEST = f"""\
import time

import pytest


@pytest.mark.experiment("burn")
@pytest.mark.parametrize("i", range({VARIANTS}))
def test_burn(i):
    end = time.process_time() + {BURN_S}
    x = 0
    while time.process_time() < end:
        x += 1
    return i
"""


def wall(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "pytest", *PYTEST_FLAGS, "test_burn.py", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, args in (("-n 2", ["-n", "2"]), ("slurm", ["--sacred-launcher=slurm"])):
            work = Path(tmp, name.replace(" ", ""))
            work.mkdir()
            (work / "test_burn.py").write_text(TEST)
            results[name] = wall(args, work)
            runs = [p for p in (work / "runs").iterdir() if p.name.isdigit()]
            assert len(runs) == VARIANTS, f"{name}: {len(runs)} runs stored"
    print(f"{VARIANTS} variants x {BURN_S:g} s CPU, file store, 2 cores / one 2-CPU Slurm node")
    for name, seconds in results.items():
        print(f"  {name:6} {seconds:6.2f} s")
    print(f"  ratio slurm / -n 2: {results['slurm'] / results['-n 2']:.2f}")


if __name__ == "__main__":
    main()
