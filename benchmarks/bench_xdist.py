"""``-n 2`` (pytest-xdist) scaling of a sweep, with the plugin on and off.

The issue's case: a 200-variant experiment whose variants each sleep 50 ms (10 s of
waiting in all), run with ``-n 0`` and ``-n 2``; once with pytest-sacred storing every run
(file store), once with ``-p no:sacred``. Speed-up = wall(-n 0) / wall(-n 2), per round.
On 2 cores the ideal is 2×, less what xdist's start of two workers costs; the plugin must
not serialise its workers (target ≥ 1.8× with the plugin on).
"""

from __future__ import annotations

import argparse
import importlib.util

import harness
from harness import Stats, Variant, pytest_argv
from report import Row, Section, section_markdown, times

VARIANTS, SLEEP_S = 200, 0.05
TARGET = 1.8

PYTEST_INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment (registered for -p no:sacred)
"""

TEST_SLEEP = f"""\
import time

import pytest


@pytest.mark.experiment("sleep")
@pytest.mark.parametrize("i", range({VARIANTS}))
def test_sleep(i):
    time.sleep({SLEEP_S})
"""


def run(repeats: int = 5) -> Section:
    section = Section(
        "pytest-xdist scaling",
        f"{VARIANTS}-variant experiment, each variant sleeping {SLEEP_S * 1000:.0f} ms; "
        f"`-n 0` vs `-n 2`, plugin on (file store) and `-p no:sacred`; {repeats} interleaved "
        f"rounds after a warm-up; speed-up = wall(`-n 0`) ÷ wall(`-n 2`) within a round.")
    if importlib.util.find_spec("xdist") is None:
        section.notes.append("skipped: pytest-xdist is not installed")
        return section
    root = harness.write_files(harness.workdir("xdist"),
                               {"pytest.ini": PYTEST_INI, "test_sleep.py": TEST_SLEEP})
    stores = {n: harness.fresh_dir(root, f"runs-n{n}") for n in (0, 2)}
    try:
        def ours(n: int) -> Variant:
            return Variant(f"plugin -n {n}",
                           lambda k: pytest_argv("-n", str(n), "--sacred-file-storage",
                                                 str(stores[n](k)), "test_sleep.py"), root)

        def plain(n: int) -> Variant:
            return Variant(f"plain -n {n}", pytest_argv("-n", str(n), "-p", "no:sacred",
                                                        "test_sleep.py"), root)

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
        Row("speed-up `-n 2` over `-n 0`, `-p no:sacred`", speedup["plain"], "×",
            note=f"plain pytest at ≥ {TARGET:g}×: {speedup['plain'].median >= TARGET}"),
        Row("**speed-up `-n 2` over `-n 0`, plugin on (file store)**", speedup["plugin"], "×",
            ratio=f"{speedup['plugin'].median / speedup['plain'].median:.2f} of plain's",
            target=f"≥ {TARGET:g}×", met=speedup["plugin"].median >= TARGET),
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
