"""``-n 2`` (pytest-xdist) scaling of a CPU-bound sweep, with the plugin on and off.

A 40-variant experiment, each variant running a pure-Python loop calibrated to take
``BURN_S`` of CPU on this machine, run with ``-n 0`` and ``-n 2``; once with pytest-sacred
storing every run (file store), once with ``-p no:sacred``. Speed-up = wall(-n 0) /
wall(-n 2), per round. On 2 cores the ideal is 2×, less xdist's start of two workers
(about 1.4 s here, which is why each variant burns 100 ms rather than 50: with 2 s of work
in all the start would hide the scaling); the plugin should not lower it.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import harness
from harness import Stats, Variant, pytest_argv
from report import Row, Section, section_markdown, times

VARIANTS, BURN_S = 40, 0.1

PYTEST_INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment (registered for -p no:sacred)
"""

TEST_CPU = f"""\
import os

import pytest

LOOPS = int(os.environ["BENCH_LOOPS"])


@pytest.mark.experiment("cpu")
@pytest.mark.parametrize("i", range({VARIANTS}))
def test_cpu(i):
    x = 0
    for k in range(LOOPS):
        x += k
"""


def calibrate(seconds: float) -> int:
    """Loop iterations of the test's body that take ``seconds`` of CPU here (best of 5)."""
    n = 1_000_000
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        x = 0
        for k in range(n):
            x += k
        best = min(best, time.process_time() - start)
    return int(n * seconds / best)


def run(repeats: int = 5) -> Section:
    section = Section(
        "pytest-xdist scaling",
        f"{VARIANTS}-variant experiment, each variant a loop calibrated to {BURN_S * 1000:.0f} ms "
        f"of CPU (not 50 ms: xdist's start of two workers, ~1.4 s here, would hide the "
        f"scaling); "
        f"`-n 0` vs `-n 2`, plugin on (file store) and `-p no:sacred`; {repeats} interleaved "
        f"rounds after a warm-up; speed-up = wall(`-n 0`) ÷ wall(`-n 2`) within a round. "
        f"The issue sets no number here: the plugin should keep plain pytest's speed-up.")
    if importlib.util.find_spec("xdist") is None:
        section.notes.append("skipped: pytest-xdist is not installed")
        return section
    root = harness.write_files(harness.workdir("xdist"),
                               {"pytest.ini": PYTEST_INI, "test_cpu.py": TEST_CPU})
    stores = {n: harness.fresh_dir(root, f"runs-n{n}") for n in (0, 2)}
    env = {"BENCH_LOOPS": str(calibrate(BURN_S))}
    try:
        def ours(n: int) -> Variant:
            return Variant(f"plugin -n {n}",
                           lambda k: pytest_argv("-n", str(n), "--sacred-file-storage",
                                                 str(stores[n](k)), "test_cpu.py"), root,
                           env=env)

        def plain(n: int) -> Variant:
            return Variant(f"plain -n {n}", pytest_argv("-n", str(n), "-p", "no:sacred",
                                                        "test_cpu.py"), root, env=env)

        res = harness.measure([ours(0), ours(2), plain(0), plain(2)], repeats)
        for n, store in stores.items():
            stored = sum(1 for p in store(repeats).iterdir() if p.name.isdigit())
            if stored != VARIANTS:
                section.notes.append(f"WARNING: the `-n {n}` store held {stored} runs, "
                                     f"not {VARIANTS}")
    finally:
        harness.remove(root)
    speedup = {}
    for side in ("plain", "plugin"):
        speedup[side] = Stats.of(harness.paired(res[f"{side} -n 0"], res[f"{side} -n 2"],
                                                lambda a, b: a.wall / b.wall))
    for side, label in (("plain", "`-p no:sacred`"), ("plugin", "plugin on")):
        section.rows += [
            Row(f"{label}, `-n 0`", res[f"{side} -n 0"].stats(), "s"),
            Row(f"{label}, `-n 2`", res[f"{side} -n 2"].stats(), "s"),
        ]
    section.rows += [
        Row("speed-up `-n 2`, `-p no:sacred`", speedup["plain"], "×"),
        Row("speed-up `-n 2`, plugin on", speedup["plugin"], "×",
            ratio=f"{speedup['plugin'].median / speedup['plain'].median:.2f} of plain's"),
        Row("plugin on ÷ off, `-n 2` wall", None, "",
            ratio=times(harness.ratio(res["plugin -n 2"].stats(), res["plain -n 2"].stats()))),
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(section_markdown(run(args.repeats)))


if __name__ == "__main__":
    main()
