"""``load_runs`` over 10 000 stored runs, against what users write without it.

* file store: ``pytest_sacred.load_runs(DIR)`` against a hand-written loop — ``glob`` of
  ``*/run.json``, ``json.load`` of run.json, config.json and metrics.json, last/min/max of
  each metric, ``pandas.json_normalize`` of the rows;
* MongoDB: ``load_runs("HOST:PORT:DB")`` against Incense's ``ExperimentLoader.find_all()``
  then ``QuerySet.project`` of the same columns (the metrics' last value as a reducer, min
  and max from the experiments' cached ``metrics`` Series).

Both sides of a store produce the same table (id, experiment, status, start/stop time,
duration, host, flattened config, result, last/min/max of two metrics); the benchmark
checks that they agree on its cells before timing. The stores are written directly in
the layout (``run.json``/``config.json``/``metrics.json`` files; run and metric documents
inserted in bulk) — not through 10 000 pytest runs. Each side runs in a fresh process
with pandas (and Incense) imported before the clock starts; the time is the call alone.

    python benchmarks/bench_load_runs.py [--runs 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import harness
import mongo
from harness import PYTHON, Variant
from report import Row, Section, section_markdown, times

TARGET = 0.5  # load_runs <= half the hand-written / Incense time
POINTS = 50  # per metric, two metrics per run

_COMMON = """\
import json, os, sys, time
sys.path.insert(0, {repo!r})
import pandas as pd
"""

FILE_OURS = _COMMON + """\
from pytest_sacred import load_runs
import pytest_sacred.readers.api, pytest_sacred.stores.file.reader  # imports: not what is timed
start = time.perf_counter()
frame = load_runs({store!r})
elapsed = time.perf_counter() - start
"""

FILE_LOOP = _COMMON + """\
import glob
start = time.perf_counter()
rows = []
for path in glob.glob(os.path.join({store!r}, "*", "run.json")):
    directory = os.path.dirname(path)
    with open(path) as f:
        run = json.load(f)
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(directory, "metrics.json")) as f:
        metrics = json.load(f)
    row = {{"id": int(os.path.basename(directory)), "experiment": run["experiment"]["name"],
           "status": run["status"], "start_time": run.get("start_time"),
           "stop_time": run.get("stop_time"), "host": run["host"].get("hostname"),
           "config": config, "result": run.get("result")}}
    for name, metric in metrics.items():
        values = metric["values"]
        row[f"metrics.{{name}}.last"] = values[-1]
        row[f"metrics.{{name}}.min"] = min(values)
        row[f"metrics.{{name}}.max"] = max(values)
    rows.append(row)
frame = pd.json_normalize(rows).sort_values("id", ignore_index=True)
frame["start_time"] = pd.to_datetime(frame["start_time"])
frame["stop_time"] = pd.to_datetime(frame["stop_time"])
frame["duration"] = (frame["stop_time"] - frame["start_time"]).dt.total_seconds()
elapsed = time.perf_counter() - start
"""

MONGO_OURS = _COMMON + """\
from pytest_sacred import load_runs
import pytest_sacred.readers.api, pytest_sacred.stores.mongo.reader, pymongo
start = time.perf_counter()
frame = load_runs({store!r})
elapsed = time.perf_counter() - start
"""

MONGO_INCENSE = _COMMON + """\
from incense import ExperimentLoader
start = time.perf_counter()
loader = ExperimentLoader(mongo_uri={url!r}, db_name={db!r})
experiments = loader.find_all()
def last(series):
    return series.iloc[-1]
frame = experiments.project(on=[
    "experiment.name", "status", "start_time", "stop_time", "host.hostname",
    "config.C", "config.kernel", "config.seed", "config.optimizer.lr",
    "config.optimizer.name", "config.layers", "result",
    {{"metrics.loss": last}}, {{"metrics.accuracy": last}}], rename=None, on_missing="ignore")
for name in ("loss", "accuracy"):  # the Series are cached on each experiment by now
    frame[f"metrics.{{name}}.min"] = [e.metrics[name].min() for e in experiments]
    frame[f"metrics.{{name}}.max"] = [e.metrics[name].max() for e in experiments]
frame["duration"] = (frame["stop_time"] - frame["start_time"]).dt.total_seconds()
elapsed = time.perf_counter() - start
frame = frame.reset_index().rename(columns={{"exp_id": "id", "experiment.name": "experiment",
                                             "host.hostname": "host",
                                             "metrics.loss_last": "metrics.loss.last",
                                             "metrics.accuracy_last": "metrics.accuracy.last"}})
"""

_REPORT = """
with open(os.environ["BENCH_OUT"], "a") as out:
    out.write(json.dumps({"load_s": elapsed, "rows": len(frame)}) + "\\n")
check = os.environ.get("BENCH_CHECK")
if check:
    columns = ["id", "experiment", "status", "host", "config.C", "config.optimizer.lr",
               "result", "metrics.loss.last", "metrics.loss.min", "metrics.accuracy.max"]
    frame = frame.sort_values("id")
    with open(check, "w") as out:
        json.dump([[None if v != v else v for v in row]
                   for row in frame[columns].astype(object).values.tolist()], out)
"""


# -- the stores ---------------------------------------------------------------------------------


def _run(run_id: int, rnd: random.Random, start: datetime) -> tuple[dict, dict, dict]:
    """A run as the plugin stores it: run.json entry, config, metrics (timestamps as
    datetimes)."""
    begin = start + timedelta(seconds=7 * run_id)
    config = {"C": rnd.choice([0.1, 1.0, 10.0]), "kernel": rnd.choice(["rbf", "poly"]),
              "seed": rnd.randrange(2**31), "layers": [64, 64],
              "optimizer": {"lr": rnd.choice([1e-3, 1e-2]), "name": "adam"}}
    metrics = {}
    for name in ("loss", "accuracy"):
        metrics[name] = {"steps": list(range(POINTS)),
                         "values": [rnd.random() for _ in range(POINTS)],
                         "timestamps": [begin + timedelta(milliseconds=20 * s)
                                        for s in range(POINTS)]}
    entry = {
        "artifacts": ["model.pkl"], "command": "test_iris",
        "experiment": {"base_dir": "/home/user/project", "name": "iris_rbf_svm",
                       "mainfile": "experiments/test_iris.py",
                       "dependencies": ["numpy==2.1.0", "scikit-learn==1.5.2"],
                       "repositories": [{"url": "git@example.org:me/project.git",
                                         "commit": "0" * 40, "dirty": False}],
                       "sources": [["experiments/test_iris.py",
                                    "_sources/test_iris_0123456789abcdef.py"]]},
        "heartbeat": begin + timedelta(seconds=5), "start_time": begin,
        "stop_time": begin + timedelta(seconds=5),
        "host": {"hostname": "node-1", "os": ["Linux", "Linux-6.1-x86_64"],
                 "python_version": "3.11.7", "cpu": "AMD EPYC 7B13", "ENV": {}},
        "meta": {"command": "test_iris", "options": {}, "named_configs": [],
                 "config_updates": {}, "comment": "", "pytest": {"nodeid": "x"}},
        "resources": [], "result": rnd.random(),
        "status": "COMPLETED" if run_id % 10 else "FAILED",
    }
    return entry, config, metrics


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


def write_file_store(root: Path, count: int) -> None:
    rnd, start = random.Random(1), datetime(2026, 1, 1)
    for run_id in range(1, count + 1):
        entry, config, metrics = _run(run_id, rnd, start)
        directory = root / str(run_id)
        directory.mkdir(parents=True)
        (directory / "run.json").write_text(json.dumps(_iso(entry), sort_keys=True, indent=2))
        (directory / "config.json").write_text(json.dumps(config, sort_keys=True, indent=2))
        (directory / "metrics.json").write_text(json.dumps(_iso(metrics), sort_keys=True,
                                                           indent=2))


def write_mongo_store(server: mongo.Server, db_name: str, count: int) -> None:
    import pymongo
    from bson import ObjectId

    rnd, start = random.Random(1), datetime(2026, 1, 1)
    with pymongo.MongoClient(server.host, server.port) as client:
        db = client[db_name]
        runs, metric_docs = [], []
        for run_id in range(1, count + 1):
            entry, config, metrics = _run(run_id, rnd, start)
            info = {"metrics": []}
            for name, points in metrics.items():
                oid = ObjectId()
                metric_docs.append({"_id": oid, "run_id": run_id, "name": name, **points})
                info["metrics"].append({"id": str(oid), "name": name})
            entry["experiment"]["sources"] = [["experiments/test_iris.py", ObjectId()]]
            runs.append({"_id": run_id, "format": "MongoObserver-0.7.0", **entry,
                         "config": config, "info": info, "captured_out": "epoch 1\n" * 200,
                         "artifacts": [{"name": "model.pkl", "file_id": ObjectId()}]})
            if len(runs) == 1000:
                db.runs.insert_many(runs)
                db.metrics.insert_many(metric_docs)
                runs, metric_docs = [], []
        if runs:
            db.runs.insert_many(runs)
            db.metrics.insert_many(metric_docs)
        db.metrics.create_index([("run_id", 1), ("name", 1)])


# -- measuring ----------------------------------------------------------------------------------


def _variant(name: str, script: str, check: Path | None = None) -> Variant:
    return Variant(name, [PYTHON, "-c", script + _REPORT],
                   env={"BENCH_CHECK": str(check)} if check else {})


def _agree(a: Path, b: Path, what: str) -> None:
    import math

    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    if len(left) != len(right):
        raise harness.BenchError(f"{what}: {len(left)} rows against {len(right)}")
    for x, y in zip(left, right, strict=True):
        for u, v in zip(x, y, strict=True):
            if u != v and not (isinstance(u, float) and isinstance(v, float)
                               and math.isclose(u, v)):
                raise harness.BenchError(f"{what}: the two sides differ: {x} against {y}")


def _compare(section: Section, label: str, ours: Variant, theirs: Variant, baseline: str,
             repeats: int) -> None:
    for variant in (ours, theirs):  # once with the table written out, to compare cells
        harness.run_once(variant, 0)
    checks = [Path(v.env["BENCH_CHECK"]) for v in (ours, theirs)]
    _agree(*checks, label)
    for variant in (ours, theirs):
        variant.env.pop("BENCH_CHECK")
    res = harness.measure([ours, theirs], repeats, warmup=0)  # the checked run warmed up
    mine, other = res[ours.name].stats("load_s"), res[theirs.name].stats("load_s")
    ratio = mine.median / other.median
    section.rows += [
        Row(f"{label}: {baseline}", other, "s"),
        Row(f"**{label}: `load_runs`**", mine, "s", ratio=f"{times(ratio)} of {baseline}",
            target=f"≤ {TARGET:.2f} of {baseline}", met=ratio <= TARGET),
    ]
    print(f"{label}: load_runs {mine.median:.3f} s, {baseline} {other.median:.3f} s, "
          f"ratio {ratio:.3f}", file=sys.stderr, flush=True)


def run(runs: int = 10_000, repeats: int = 3) -> Section:
    section = Section(
        f"load_runs over {runs:,} runs",
        f"`pytest_sacred.load_runs` over {runs:,} stored runs (two metrics of {POINTS} "
        "points each, a config of five entries, one nested) against a hand-written "
        "glob + json + `pandas.json_normalize` loop (file store) and Incense 0.0.15's "
        "`find_all()` + `project` (MongoDB), measured side by side in one run; both sides "
        "build the same table (checked cell by cell). Times are the call alone, in a fresh "
        "process with pandas imported.")
    root = harness.workdir("bench-load-runs-")
    try:
        store = root / "runs"
        write_file_store(store, runs)
        _compare(section, "file store",
                 _variant("ours", FILE_OURS.format(repo=str(harness.REPO), store=str(store)),
                          root / "ours.json"),
                 _variant("loop", FILE_LOOP.format(repo=str(harness.REPO), store=str(store)),
                          root / "loop.json"),
                 "glob+json+pandas loop", repeats)
        why = mongo.missing()
        if why is None:
            try:
                import incense  # noqa: F401
            except ImportError:
                why = "incense is not installed (pip install -e '.[bench]')"
        if why:
            section.notes.append(f"MongoDB rows skipped: {why}.")
            return section
        server = mongo.start()
        try:
            write_mongo_store(server, "loadbench", runs)
            _compare(section, "MongoDB",
                     _variant("ours", MONGO_OURS.format(repo=str(harness.REPO),
                                                        store=server.option("loadbench")),
                              root / "ours-mongo.json"),
                     _variant("incense", MONGO_INCENSE.format(repo=str(harness.REPO),
                                                              url=server.url, db="loadbench"),
                              root / "incense.json"),
                     "Incense find_all+project", repeats)
        finally:
            server.stop()
        section.notes.append(textwrap.dedent("""\
            Where the time goes: the loop's `json.load` of three files per run,
            `json_normalize` and the garbage collector's passes over the growing rows,
            against one `os.read` and an orjson parse per file, columns built directly and
            the collector paused; Incense loads every run document whole (captured output
            included) and fetches each run's metrics with one query per run, where
            `load_runs` leaves out `captured_out` and reads the metrics of all runs in one
            query.""").replace("\n", " "))
    finally:
        harness.remove(root)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(section_markdown(run(args.runs, args.repeats)))


if __name__ == "__main__":
    main()
