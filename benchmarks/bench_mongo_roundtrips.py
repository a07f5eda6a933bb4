"""MongoDB round trips and client CPU per run: our store against Sacred's MongoObserver.

Both sides run the same 200-run sweep, each run logging 3 metrics (10 points each) and
adding one 1 kB artifact, into a fresh database of one ``secantusd-py`` test server. Round
trips are counted with pymongo's command monitoring (a ``CommandListener`` registered
before any client exists; every command sent is one round trip), divided by the number of
runs, so the session's fixed commands are spread over its runs on both sides. Client CPU
per run is the process's user+system time with the store minus the same sweep without
any store, over the runs (server-independent, unlike wall time: the test server is far
slower than a real mongod).

Baseline: Sacred 0.8.7's MongoObserver.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness
import mongo
from harness import PYTHON, Stats, Variant, pytest_argv
from report import Row, Section, section_markdown

RUNS = 200
TARGET = 1 / 3

LISTENER = """\
import atexit, collections, json, os
from pymongo import monitoring

COUNTS = collections.Counter()


class Counter(monitoring.CommandListener):
    def started(self, event):
        COUNTS[event.command_name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


monitoring.register(Counter())


@atexit.register
def _write():
    if "BENCH_OUT" in os.environ and COUNTS:
        with open(os.environ["BENCH_OUT"], "a") as out:
            out.write(json.dumps({"commands": sum(COUNTS.values()),
                                  "by_command": dict(COUNTS)}) + "\\n")
"""

CONFTEST = "import mongo_listener  # noqa: F401  (registers the command counter)\n"

PYTEST_INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment
"""

TEST_SWEEP = f"""\
import pytest


@pytest.mark.experiment("trips")
@pytest.mark.parametrize("i", range({RUNS}))
def test_trips(i, sacred_run, tmp_path):
    for step in range(10):
        sacred_run.log_scalar("loss", 1.0 / (step + 1), step)
        sacred_run.log_scalar("acc", step / 10, step)
        sacred_run.log_scalar("lr", 0.1, step)
    (tmp_path / "model.bin").write_bytes(b"x" * 1024)
    return i
"""

SACRED_LOOP = f"""\
import os, sys, tempfile

import mongo_listener  # noqa: F401
from sacred import Experiment

kind = sys.argv[1]
ex = Experiment("trips")
artifact = os.path.join(tempfile.mkdtemp(), "model.bin")
with open(artifact, "wb") as f:
    f.write(b"x" * 1024)


@ex.config
def cfg():
    i = 0


@ex.main
def main(i, _run):
    for step in range(10):
        _run.log_scalar("loss", 1.0 / (step + 1), step)
        _run.log_scalar("acc", step / 10, step)
        _run.log_scalar("lr", 0.1, step)
    _run.add_artifact(artifact)
    return i


if kind == "mongo":
    from sacred.observers import MongoObserver
    ex.observers.append(MongoObserver(url=sys.argv[2], db_name=sys.argv[3]))
for i in range({RUNS}):
    ex.run(config_updates={{"i": i}})
"""


def _project(root: Path) -> Path:
    return harness.write_files(root, {
        "pytest.ini": PYTEST_INI, "conftest.py": CONFTEST, "mongo_listener.py": LISTENER,
        "test_trips.py": TEST_SWEEP, "sacred_loop.py": SACRED_LOOP})


def _cpu(sample: harness.Sample) -> float:
    return sample.user + sample.sys


def run(repeats: int = 3) -> Section:
    section = Section(
        "MongoDB round trips and client CPU per run",
        f"{RUNS}-run sweep, each run logging 3 metrics × 10 points and adding a 1 kB "
        "artifact, pytest-sacred `--sacred-mongo` vs Sacred 0.8.7's MongoObserver "
        "(`ex.run` loop), same test server, fresh database per run of the sweep. Round "
        "trips: commands counted by a pymongo `CommandListener`, over the runs. Client "
        "CPU: user+sys of the process minus the same sweep without a store, over the runs. "
        f"{repeats} interleaved rounds after a warm-up.")
    why = mongo.missing()
    if why is not None:
        section.notes.append(f"skipped: {why}")
        return section
    root = _project(harness.workdir("trips"))
    server = mongo.start()
    try:
        variants = [
            Variant("ours none", pytest_argv("--sacred-unobserved", "test_trips.py"), root),
            Variant("ours mongo", lambda n: pytest_argv(
                "--sacred-mongo", server.option(f"ours{n}"), "test_trips.py"), root),
            Variant("Sacred none", [PYTHON, "sacred_loop.py", "none"], root),
            Variant("Sacred mongo", lambda n: [PYTHON, "sacred_loop.py", "mongo", server.url,
                                               f"sacred{n}"], root),
        ]
        res = harness.measure(variants, repeats)
    finally:
        server.stop()
        harness.remove(root)
    ours_trips = res["ours mongo"].stats("commands").scaled(1 / RUNS)
    sacred_trips = res["Sacred mongo"].stats("commands").scaled(1 / RUNS)
    ours_cpu = Stats.of(harness.paired(res["ours mongo"], res["ours none"],
                                       lambda m, n: (_cpu(m) - _cpu(n)) / RUNS * 1000))
    sacred_cpu = Stats.of(harness.paired(res["Sacred mongo"], res["Sacred none"],
                                         lambda m, n: (_cpu(m) - _cpu(n)) / RUNS * 1000))
    trips_ratio = ours_trips.median / sacred_trips.median
    cpu_ratio = ours_cpu.median / sacred_cpu.median
    section.rows += [
        Row("round trips per run, pytest-sacred", ours_trips, "",
            ratio=f"{trips_ratio:.3f} of Sacred", target=f"≤ {TARGET:.3f}",
            met=trips_ratio <= TARGET),
        Row("round trips per run, Sacred MongoObserver", sacred_trips, ""),
        Row("client CPU per run, pytest-sacred", ours_cpu, "ms/run",
            ratio=f"{cpu_ratio:.3f} of Sacred", target=f"≤ {TARGET:.3f}",
            met=cpu_ratio <= TARGET),
        Row("client CPU per run, Sacred MongoObserver", sacred_cpu, "ms/run"),
    ]
    by_ours = res["ours mongo"].samples[-1].inner["by_command"]
    by_sacred = res["Sacred mongo"].samples[-1].inner["by_command"]
    lines = ["| command | pytest-sacred per run | Sacred per run | ratio |", "|---|---|---|---|"]
    for kind in sorted(set(by_ours) | set(by_sacred)):
        o, s = by_ours.get(kind, 0) / RUNS, by_sacred.get(kind, 0) / RUNS
        lines.append(f"| {kind} | {o:.2f} | {s:.2f} | {o / s:.2f} |" if s else
                     f"| {kind} | {o:.2f} | {s:.2f} | n/a |")
    section.details.append("Round trips per run by command (last round):\n\n" + "\n".join(lines))
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(section_markdown(run(args.repeats)))


if __name__ == "__main__":
    sys.exit(main())
