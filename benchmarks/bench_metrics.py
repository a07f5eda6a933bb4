"""Metrics: ``log_scalar`` throughput, time until 100 k / 1 M points are stored, peak RSS,
and the cost of a heartbeat as points accumulate; pytest-sacred against Sacred 0.8.7.

Both sides log one metric, ``loss``, with ``log_scalar("loss", i * 0.5)`` in a plain loop,
with the file store (ours: ``--sacred-file-storage``; Sacred: ``FileStorageObserver``),
each in a fresh process.

* calls/s: the loop's own time, measured inside the run. Ours is the ``sacred_run`` fixture
  inside a pytest session, and also a bare ``pytest_sacred.run.Run``; Sacred's is
  ``_run.log_scalar`` inside ``ex.run``.
* time to stored: from just before the first call (``time.time()`` in the child) until the
  process has exited, i.e. until the session has ended and ``metrics.json`` is complete
  (Sacred's heartbeat thread may still be writing after ``ex.run`` returns, so we wait for
  the process too). Afterwards ``metrics.json`` is read back and must hold every point.
* peak RSS: of that process, from GNU time (``/usr/bin/time -f %M``).
* heartbeat cost: with a 0.5 s heartbeat and logging paced at a steady rate, an observer of
  the highest priority stamps ``log_metrics`` and one of the lowest stamps
  ``heartbeat_event``: the time between is the stores' work for that beat (the metric
  buffer's drain, before ``log_metrics``, is not in it, on either side).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import harness
from harness import PYTHON, Stats, Variant, pytest_argv
from report import Row, Section, markdown_table, number, section_markdown, times

CALLS = 300_000
SIZES = {"100 k": 100_000, "1 M": 1_000_000}
CALLS_TARGET = 10.0  # >= 10x Sacred's calls/s
STORED_TARGET = 0.15  # 1 M points stored in <= 0.15 of Sacred's time
RSS_TARGET = 0.3  # peak RSS with 1 M points <= 0.3 of Sacred's
BEAT_RATE, BEAT_SECONDS, BEAT_INTERVAL = 100_000, 8.0, 0.5
GROWTH_LIMIT = 1.25  # "not growing": late beats cost at most 1.25x early ones per point

PYTEST_INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment
"""

# -- pytest-sacred side ----------------------------------------------------------------------

TEST_METRICS = """\
import json, os, time

import pytest

POINTS = int(os.environ["BENCH_POINTS"])


@pytest.mark.experiment("metrics")
def test_metrics(sacred_run):
    first = time.time()
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(POINTS):
        sacred_run.log_scalar("loss", i * 0.5)
    loop, cpu = time.perf_counter() - start, time.thread_time() - cpu
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps({"first": first, "loop_s": loop, "calls_per_s": POINTS / loop,
                              "cpu_calls_per_s": POINTS / cpu}) + "\\n")
"""

BARE_RUN = """\
import json, os, sys, time

from pytest_sacred.record import RunRecord
from pytest_sacred.run import Run

POINTS = int(sys.argv[1])


def main():
    try:
        run = Run(RunRecord(config={}, seed=0, experiment_info={}, host_info={},
                            meta_info={}, emit=lambda *args, **kwargs: None))
    except TypeError as exc:
        return {"error": f"Run() signature changed: {exc}"}
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(POINTS):
        run.log_scalar("loss", i * 0.5)
    loop, cpu = time.perf_counter() - start, time.thread_time() - cpu
    return {"loop_s": loop, "calls_per_s": POINTS / loop, "cpu_calls_per_s": POINTS / cpu}


with open(os.environ["BENCH_OUT"], "a") as out:
    out.write(json.dumps(main()) + "\\n")
"""

#: the body of both sides' heartbeat runs: logging paced at BEAT_RATE points/s, so both
#: deliver the same points per beat; ``{run}`` is the run object's name on that side
PACED_LOOP = f"""\
    rate, seconds, batch = {BEAT_RATE}, {BEAT_SECONDS}, 1000
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        for _ in range(batch):
            {{run}}.log_scalar("loss", i * 0.5)
            i += 1
        ahead = start + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
"""

TEST_BEATS = f"""\
import os, time

import pytest


@pytest.mark.experiment("beats")
def test_beats(sacred_run):
{PACED_LOOP.format(run='sacred_run')}"""

CONFTEST_BEATS = """\
import json, os, time

BEATS = []  # [wall start, CPU start, points delivered, wall end, CPU end]


class First:
    \"\"\"Called before any other observer at each beat.\"\"\"
    priority = 10 ** 6
    name = "bench-first"

    def pytest_sacred_log_metrics(self, metrics_by_name):
        points = sum(len(m["steps"]) for m in metrics_by_name.values())
        BEATS.append([time.perf_counter(), time.thread_time(), points, None, None])


class Last:
    \"\"\"Called after every other observer at each beat.\"\"\"
    priority = -10 ** 6
    name = "bench-last"

    def pytest_sacred_heartbeat_event(self):
        if BEATS and BEATS[-1][3] is None:
            BEATS[-1][3:] = [time.perf_counter(), time.thread_time()]


def pytest_configure(config):
    config.pluginmanager.register(First(), "bench-first")
    config.pluginmanager.register(Last(), "bench-last")


def pytest_unconfigure(config):
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps({"beats": BEATS}) + "\\n")
"""

# -- Sacred side ------------------------------------------------------------------------------

SACRED_METRICS = """\
import json, os, sys, time

from sacred import Experiment
from sacred.observers import FileStorageObserver

POINTS = int(sys.argv[1])
ex = Experiment("metrics")
ex.observers.append(FileStorageObserver(sys.argv[2]))


@ex.main
def main(_run):
    first = time.time()
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(POINTS):
        _run.log_scalar("loss", i * 0.5)
    loop, cpu = time.perf_counter() - start, time.thread_time() - cpu
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps({"first": first, "loop_s": loop, "calls_per_s": POINTS / loop,
                              "cpu_calls_per_s": POINTS / cpu}) + "\\n")


ex.run()
"""

SACRED_BEATS = f"""\
import atexit, json, os, sys, time

from sacred import SETTINGS, Experiment
from sacred.observers import FileStorageObserver, RunObserver

SETTINGS.DEFAULT_BEAT_INTERVAL = {BEAT_INTERVAL}
BEATS = []


class First(RunObserver):
    priority = 10 ** 6

    def log_metrics(self, metrics_by_name, info):
        points = sum(len(m["steps"]) for m in metrics_by_name.values())
        BEATS.append([time.perf_counter(), time.thread_time(), points, None, None])


class Last(RunObserver):
    priority = -10 ** 6

    def heartbeat_event(self, info, captured_out, beat_time, result):
        if BEATS and BEATS[-1][3] is None:
            BEATS[-1][3:] = [time.perf_counter(), time.thread_time()]


@atexit.register  # after the heartbeat thread has ended
def dump():
    with open(os.environ["BENCH_OUT"], "a") as out:
        out.write(json.dumps({{"beats": BEATS}}) + "\\n")


ex = Experiment("beats")
ex.observers += [First(), FileStorageObserver(sys.argv[1]), Last()]


@ex.main
def main(_run):
{PACED_LOOP.format(run='_run')}

ex.run()
"""


def _project(root: Path) -> Path:
    harness.write_files(root / "metrics", {"pytest.ini": PYTEST_INI,
                                           "test_metrics.py": TEST_METRICS})
    harness.write_files(root / "beats", {"pytest.ini": PYTEST_INI, "test_beats.py": TEST_BEATS,
                                         "conftest.py": CONFTEST_BEATS})
    return harness.write_files(root, {"bare_run.py": BARE_RUN,
                                      "sacred_metrics.py": SACRED_METRICS,
                                      "sacred_beats.py": SACRED_BEATS})


def _stored_points(directory: Path) -> int:
    """Points of ``loss`` in the ``metrics.json`` of the only run stored in ``directory``."""
    runs = [p for p in directory.iterdir() if p.name.isdigit()]
    if len(runs) != 1:
        return -1
    with open(runs[0] / "metrics.json", encoding="utf-8") as f:
        metrics = json.load(f)
    loss = metrics.get("loss", {})
    n = len(loss.get("steps", []))
    return n if n == len(loss.get("values", [])) == len(loss.get("timestamps", [])) else -1


def _ours(root: Path, name: str, points: int) -> Variant:
    store = harness.fresh_dir(root, f"store-{name}")
    return Variant(name, lambda n: pytest_argv("--sacred-file-storage", str(store(n)),
                                               "test_metrics.py"),
                   root / "metrics", env={"BENCH_POINTS": str(points)})


def _sacred(root: Path, name: str, points: int) -> Variant:
    store = harness.fresh_dir(root, f"store-{name}")
    return Variant(name, lambda n: [PYTHON, "sacred_metrics.py", str(points), str(store(n))],
                   root)


def _to_stored(result: harness.Result) -> Stats:
    return Stats.of([s.end - s.inner["first"] for s in result.samples])


def _throughput(root: Path, repeats: int, section: Section) -> None:
    variants = [_ours(root, "ours fixture", CALLS), _sacred(root, "Sacred", CALLS),
                Variant("ours bare Run", [PYTHON, "bare_run.py", str(CALLS)], root)]
    res = harness.measure(variants, repeats)
    ours, sacred = res["ours fixture"].stats("calls_per_s"), res["Sacred"].stats("calls_per_s")
    r = ours.median / sacred.median
    section.rows += [
        Row("Sacred `_run.log_scalar` in `ex.run`", sacred, "calls/s"),
        Row("**pytest-sacred `sacred_run.log_scalar` in a pytest session**", ours, "calls/s",
            ratio=times(r) + " Sacred", target=f"≥ {CALLS_TARGET:.0f}× Sacred",
            met=r >= CALLS_TARGET),
    ]
    bare = res["ours bare Run"]
    if "error" in bare.samples[0].inner:
        section.notes.append(f"bare Run row skipped: {bare.samples[0].inner['error']}")
    else:
        b = bare.stats("calls_per_s")
        section.rows.append(Row("pytest-sacred bare `pytest_sacred.run.Run.log_scalar`", b,
                                "calls/s", ratio=times(b.median / sacred.median) + " Sacred"))
    # The loop's own CPU (time.thread_time): what the call costs, without the time the
    # loop's thread spent waiting for a core on a shared machine (wall time counts that)
    cpu = {name: res[name].stats("cpu_calls_per_s") for name in res
           if "error" not in res[name].samples[0].inner}
    sacred_cpu = cpu["Sacred"]
    for name, label in (("Sacred", "Sacred `_run.log_scalar`, per CPU second of the loop"),
                        ("ours fixture", "pytest-sacred `sacred_run.log_scalar` in a session, "
                                         "per CPU second of the loop"),
                        ("ours bare Run", "pytest-sacred bare `Run.log_scalar`, per CPU second "
                                          "of the loop")):
        if name in cpu:
            section.rows.append(Row(label, cpu[name], "calls/s", ratio=times(
                cpu[name].median / sacred_cpu.median) + " Sacred"))


def _stored(root: Path, label: str, points: int, repeats: int, section: Section,
            rss: dict[str, dict[str, Stats]]) -> None:
    ours_v = _ours(root, f"ours {label}", points)
    sacred_v = _sacred(root, f"Sacred {label}", points)
    res = harness.measure([ours_v, sacred_v], repeats)
    for name in (ours_v.name, sacred_v.name):
        got = _stored_points(harness.fresh_dir(root, f"store-{name}")(repeats))
        if got != points:
            section.notes.append(f"WARNING: {name}: metrics.json holds {got} points, not {points}")
    ours, sacred = _to_stored(res[ours_v.name]), _to_stored(res[sacred_v.name])
    target = points == SIZES["1 M"]
    section.rows += [
        Row(f"Sacred: {label} points, first call → stored", sacred, "s"),
        Row(("**" if target else "") + f"pytest-sacred: {label} points, first call → stored"
            + ("**" if target else ""), ours, "s",
            ratio=f"{ours.median / sacred.median:.3f} of Sacred",
            target=f"≤ {STORED_TARGET} of Sacred" if target else "",
            met=(ours.median <= STORED_TARGET * sacred.median) if target else None),
    ]
    rss[label] = {"ours": res[ours_v.name].stats("max_rss_kb").scaled(1 / 1024),
                  "Sacred": res[sacred_v.name].stats("max_rss_kb").scaled(1 / 1024)}


def _memory_rows(rss: dict[str, dict[str, Stats]], section: Section) -> None:
    for side in ("Sacred", "ours"):
        for label in SIZES:
            if label in rss:
                s = rss[label][side]
                ratio, share = "", s.median / rss[label]["Sacred"].median
                if side == "ours":
                    ratio = f"{share:.2f} of Sacred"
                target = side == "ours" and label == "1 M"
                who = "pytest-sacred" if side == "ours" else "Sacred"
                name = f"{who}: peak RSS, {label} points"
                section.rows.append(Row(
                    f"**{name}**" if target else name, s, "MB", ratio=ratio,
                    target=f"≤ {RSS_TARGET} of Sacred" if target else "",
                    met=(share <= RSS_TARGET) if target else None))
    if len(rss) == 2:
        span = SIZES["1 M"] - SIZES["100 k"]
        per = {side: (rss["1 M"][side].median - rss["100 k"][side].median) * 2 ** 20 / span
               for side in ("ours", "Sacred")}
        section.notes.append(
            f"Memory per point (peak RSS growth from 100 k to 1 M points, medians): "
            f"pytest-sacred {per['ours']:.0f} B, Sacred {per['Sacred']:.0f} B. A point is a "
            f"step, a float and a time: 3 Python objects of 24-32 B plus their container.")


def _beat_table(beats: list[list], side: str) -> tuple[list[list[str]], list[tuple]]:
    """Detail lines, and (points in beat, points stored before, CPU ms) of each beat."""
    lines, fits, stored = [], [], 0
    for k, (wall0, cpu0, points, wall1, cpu1) in enumerate(beats, 1):
        if wall1 is None:
            continue
        cpu_ms = (cpu1 - cpu0) * 1000
        if points:
            fits.append((points, stored, cpu_ms))
        lines.append([side, f"{k}{' (final)' if k == len(beats) else ''}", f"{stored:,}",
                      f"{points:,}", number((wall1 - wall0) * 1000, "ms"), number(cpu_ms, "ms")])
        stored += points
    return lines, fits


def _growth(beats: list[tuple]) -> tuple[float, float, float]:
    """(early, late, late ÷ early) CPU µs per delivered point: medians of the first and the
    last third of the beats that delivered points, the first beat left out when enough
    remain (it creates the files)."""
    per_point = [cpu * 1000 / new for new, _, cpu in beats]
    if len(per_point) >= 4:
        per_point = per_point[1:]
    if len(per_point) < 2:
        return float("nan"), float("nan"), float("nan")
    third = max(len(per_point) // 3, 1)
    early, late = statistics.median(per_point[:third]), statistics.median(per_point[-third:])
    return early, late, late / early


def _heartbeats(root: Path, section: Section) -> None:
    store, sacred_store = root / "store-beats", root / "store-sacred-beats"
    variants = [
        Variant("ours beats", pytest_argv("--sacred-file-storage", str(store),
                                          "--sacred-heartbeat", str(BEAT_INTERVAL),
                                          "test_beats.py"), root / "beats"),
        Variant("Sacred beats", [PYTHON, "sacred_beats.py", str(sacred_store)], root),
    ]
    res = harness.measure(variants, repeats=1, warmup=0)
    lines = []
    for name, side in (("Sacred beats", "Sacred"), ("ours beats", "pytest-sacred")):
        side_lines, beats = _beat_table(res[name].samples[0].inner.get("beats", []), side)
        lines += side_lines
        early, late, g = _growth(beats)
        row = Row(f"{side}: heartbeat CPU per point, late ÷ early beats", None, "",
                  ratio=times(g) if g == g else "too few beats",
                  note=f"{len(beats)} beats with points; early {number(early, 'µs')}/point, "
                       f"late {number(late, 'µs')}/point")
        if side == "pytest-sacred":
            row.what = "**" + row.what + "**"
            row.target = f"not growing (≤ {GROWTH_LIMIT}×)"
            row.met = (g <= GROWTH_LIMIT) if g == g else None
        section.rows.append(row)
    section.details.append(
        f"Heartbeat cost per beat (`{BEAT_INTERVAL}` s heartbeat, logging paced at "
        f"{BEAT_RATE:,} points/s for {BEAT_SECONDS:.0f} s; one run each). *wall*: from the "
        f"first observer's `log_metrics` to the last observer's `heartbeat_event` (it includes "
        f"waiting for the GIL held by the logging loop); *CPU*: the same span in the beating "
        f"thread's own CPU time (`time.thread_time`), user + system. The growth rows compare "
        f"the CPU per delivered point of the last third of the beats with the first third "
        f"(beat 1 left out); ours deliver equal batches, so any growth there comes from the "
        f"points already stored, while Sacred's batches grow as it falls behind the pace:\n\n"
        + markdown_table(["side", "beat", "points stored before", "points in beat", "wall",
                          "CPU"], lines))


def run(repeats: int = 5, big_repeats: int = 3, beats: bool = True) -> Section:
    section = Section(
        "Metrics",
        f"One metric logged in a plain loop, file store on both sides, fresh process per run. "
        f"calls/s over {CALLS:,} calls ({repeats} rounds); first call → stored = from just "
        f"before the first `log_scalar` until the process has exited and `metrics.json` holds "
        f"every point (checked), {repeats} rounds for 100 k, {big_repeats} for 1 M; peak RSS "
        f"from GNU time's `%M`; default heartbeat (10 s) except in the heartbeat rows.")
    root = _project(harness.workdir("metrics"))
    rss: dict[str, dict[str, Stats]] = {}
    try:
        _throughput(root, repeats, section)
        _stored(root, "100 k", SIZES["100 k"], repeats, section, rss)
        if big_repeats:
            _stored(root, "1 M", SIZES["1 M"], big_repeats, section, rss)
        _memory_rows(rss, section)
        if beats:
            _heartbeats(root, section)
    finally:
        harness.remove(root)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big-repeats", type=int, default=3, help="rounds of the 1 M-point runs")
    parser.add_argument("--no-beats", action="store_true", help="skip the heartbeat rows")
    args = parser.parse_args()
    print(section_markdown(run(args.repeats, args.big_repeats, not args.no_beats)))


if __name__ == "__main__":
    main()
