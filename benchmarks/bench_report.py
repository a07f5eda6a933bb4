"""The runs page at scale: 1 000 runs x 3 metrics x 10 000 points.

Writes a file store of that size directly in the layout (``run.json``, ``config.json``,
``metrics.json`` with timestamps, ``info.json``, ``cout.txt``; not through 1 000 pytest
runs), builds ``pytest-sacred report STORE -o report.html`` in a fresh process, and opens
the page in Debian's chromium (Playwright, headless) several times: the time from
``page.goto`` to the page saying it is ready (the table drawn), then the time to draw the
curves of 10 selected runs in the compare view. Targets: file <= 10 MB, opening <= 3 s.

    python benchmarks/bench_report.py [--runs 1000] [--metrics 3] [--points 10000]
                                      [--repeats 3] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZE_TARGET = 10_000_000
OPEN_TARGET = 3.0


def write_store(root: Path, runs: int, metrics: int, points: int) -> None:
    """``runs`` runs in Sacred's FileStorage layout, each with ``metrics`` metrics of
    ``points`` points (noisy decaying curves, each point with its timestamp)."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, 12, 0, 0)
    names = [f"metric_{i}" if i else "loss" for i in range(metrics)]
    steps = list(range(points))
    for run_id in range(1, runs + 1):
        directory = root / str(run_id)
        directory.mkdir()
        lr = rng.choice([0.1, 0.01, 0.001])
        width = rng.choice([64, 128, 256])
        began = start + timedelta(minutes=run_id)
        failed = run_id % 17 == 0
        stopped = (began + timedelta(seconds=90)).isoformat()
        run = {
            "experiment": {"name": "sweep", "base_dir": "/work", "sources": [],
                           "dependencies": ["numpy==2.0.0"], "repositories": [
                               {"url": "git@example.org:team/model.git", "commit": "0123abcd" * 5,
                                "dirty": run_id % 5 == 0}]},
            "command": "test_train", "host": {"hostname": f"node{run_id % 8}", "cpu": "x86",
                                              "os": ["Linux", "Linux-6"], "python_version": "3.11"},
            "start_time": began.isoformat(), "heartbeat": stopped, "stop_time": stopped,
            "meta": {"command": "test_train", "config_updates": {"lr": lr},
                     "pytest": {"nodeid": f"test_train.py::test_train[{lr}-{width}-{run_id}]"}},
            "resources": [], "artifacts": [],
            "status": "FAILED" if failed else "COMPLETED",
            "result": None if failed else round(rng.uniform(0.7, 0.95), 4),
        }
        if failed:
            run["fail_trace"] = ["Traceback (most recent call last):\n",
                                 "AssertionError: diverged\n"]
        config = {"lr": lr, "width": width, "depth": rng.choice([2, 4]),
                  "seed": rng.randrange(2**31),
                  "optimizer": {"name": "adam", "betas": [0.9, 0.999]}}
        stamps = [(began + timedelta(milliseconds=9 * i)).isoformat() for i in steps]
        series = {}
        for k, name in enumerate(names):
            scale = 1 + k
            values = [scale * math.exp(-i / (points / 4)) + rng.gauss(0, 0.02) for i in steps]
            series[name] = {"steps": steps, "values": values, "timestamps": stamps}
        (directory / "run.json").write_text(json.dumps(run))
        (directory / "config.json").write_text(json.dumps(config))
        (directory / "metrics.json").write_text(json.dumps(series))
        (directory / "info.json").write_text(json.dumps({"epochs": 10}))
        (directory / "cout.txt").write_text(f"training run {run_id}\n" * 20)


def build(store: Path, out: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest_sacred", "report", str(store), "-o", str(out)],
                   check=True, cwd=REPO)
    return time.perf_counter() - began


def open_times(page_file: Path, repeats: int) -> tuple[list[float], list[float], int]:
    """Seconds to the page ready, to 10 runs' curves drawn; and the rows shown."""
    from playwright.sync_api import sync_playwright

    ready, compare, rows = [], [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("console", lambda m, errors=errors: errors.append(m.text)
                    if m.type == "error" else None)
            began = time.perf_counter()
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-ready]", timeout=60000)
            ready.append(time.perf_counter() - began)
            rows = page.eval_on_selector_all("#runs-table tbody tr", "rows => rows.length")
            for key in range(1, 11):
                page.check(f"tr[data-key='{key}'] input.select")
            began = time.perf_counter()
            page.click("#compare-selected")
            page.wait_for_selector(".chart[data-metric=loss] canvas")
            compare.append(time.perf_counter() - began)
            if errors:
                raise SystemExit(f"the page logged errors: {errors}")
            page.close()
        browser.close()
    return ready, compare, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", type=Path, help="keep the store (and report) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        base = args.store or Path(scratch)
        store = base / "runs"
        began = time.perf_counter()
        reused = store.exists()
        if not reused:
            write_store(store, args.runs, args.metrics, args.points)
        written = time.perf_counter() - began
        out = base / "report.html"
        built = build(store, out)
        size = out.stat().st_size
        ready, compare, rows = open_times(out, args.repeats)
    opened = statistics.median(ready)
    print(f"store: {args.runs} runs x {args.metrics} metrics x {args.points} points"
          + (" (reused from --store)" if reused else f" (written in {written:.1f} s)"))
    print(f"report built in {built:.1f} s: {size / 1e6:.2f} MB "
          f"({'within' if size <= SIZE_TARGET else 'OVER'} {SIZE_TARGET / 1e6:.0f} MB)")
    print(f"opened in chromium, {rows} rows: median {opened:.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in ready)} "
          f"({'within' if opened <= OPEN_TARGET else 'OVER'} {OPEN_TARGET:.0f} s)")
    print(f"10 runs' curves drawn in: median {statistics.median(compare):.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in compare)}")
    return 0 if size <= SIZE_TARGET and opened <= OPEN_TARGET and rows == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
