"""The runs page: ``pytest-sacred report`` (a file), ``serve`` (live) and ``--sacred-report``,
opened in Debian's chromium driven by Playwright, for the file store and SQLite.

Every page is checked to log no console error and to request nothing but itself
(``file://``) or its server's origin.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import INNER_ADDOPTS

try:
    from .stored_runs import REPO
except ImportError:
    from stored_runs import REPO

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
#: the first two colours of the page's palette (page.js COLOURS)
FIRST, SECOND = (0x2F, 0x6F, 0xDE), (0xD9, 0x48, 0x0F)
HOSTILE = "</script><script>window.pwned = 1</script>"

EXPERIMENT = textwrap.dedent('''
    import math, os, struct, time, zlib
    from pathlib import Path
    import pytest
    from pytest_sacred import config

    def png(width, height, rgb):
        raw = b"".join(b"\\x00" + bytes(rgb) * width for _ in range(height))
        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        return (b"\\x89PNG\\r\\n\\x1a\\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

    @config
    def optimizer():
        return {"lr": 0.1, "name": "sgd"}

    @config
    def label():
        return LABEL

    @pytest.mark.experiment("svm")
    @pytest.mark.parametrize("C", [0.5, 2.0, 8.0])
    def test_svm(C, optimizer, label, sacred_run, tmp_path):
        for step in range(300):
            sacred_run.log_scalar("loss", 1.0 / (step + 1) / C + 0.01 * math.sin(step), step)
        sacred_run.log_scalar("acc", C / 10)
        sacred_run.info["note"] = f"C is {C}"
        (tmp_path / "plot.png").write_bytes(png(40, 20, (200, 60, 30)))
        (tmp_path / "notes.txt").write_text(f"C = {C}\\n")
        print(f"trained with C={C}")
        assert C < 8, "C too large"
        return C / 10

    @pytest.mark.experiment("other")
    def test_other(sacred_run):
        return "fine"

    @pytest.mark.experiment("slow")
    def test_slow(sacred_run):
        flag = os.environ.get("REPORT_TEST_FLAG")
        if flag is None:
            pytest.skip("run by the serve test only")
        for step in range(5):
            sacred_run.log_scalar("loss", 1.0 / (step + 1), step)
        deadline = time.monotonic() + 60
        while not Path(flag).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return 42
''').replace("LABEL", repr(HOSTILE))

#: the runs the experiment stores: id -> (experiment, status, result)
EXPECTED = {1: ("svm", "COMPLETED", 0.05), 2: ("svm", "COMPLETED", 0.2),
            3: ("svm", "FAILED", None), 4: ("other", "COMPLETED", "fine")}


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env["PYTEST_ADDOPTS"] = INNER_ADDOPTS
    env.pop("REPORT_TEST_FLAG", None)
    env.update(extra)
    return env


def _store_options(kind: str, directory: Path) -> tuple[list[str], str]:
    """The pytest options writing into a store of ``kind``, and how a reader names it."""
    if kind == "file":
        return ["--sacred-file-storage", str(directory / "runs")], str(directory / "runs")
    url = f"sqlite:///{directory / 'runs.db'}"
    return ["--sacred-sql", url], url


def _session(directory: Path, *options: str, env: dict[str, str] | None = None,
             wait: bool = True) -> subprocess.Popen[str]:
    (directory / "test_exp.py").write_text(EXPERIMENT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_exp.py",
         *options], cwd=directory, env=env or _env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    if wait:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1, out  # the C=8 variant fails
    return proc


@pytest.fixture(scope="module", params=["file", "sqlite"])
def report_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store of each kind holding :data:`EXPECTED` (tests must not change it)."""
    directory = tmp_path_factory.mktemp(f"report_{request.param}")
    options, name = _store_options(request.param, directory)
    _session(directory, *options, "-k", "not slow")
    return name


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest_sacred", *args], capture_output=True,
                          text=True, env=_env(), timeout=120)
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def embedded(path: Path) -> dict[str, Any]:
    """The JSON document a report file carries."""
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    assert found is not None
    document: dict[str, Any] = json.loads(found.group(1))
    return document


# -- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page with what it logged and requested."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def check_clean(self, *allowed: str) -> None:
        assert self.errors == []
        outside = [u for u in self.requests if not u.startswith((*allowed, "data:", "blob:"))]
        assert outside == []


#: the served page's live refresh, in ms, as page.js sets it
PAGE_REFRESH_MS = int(re.search(r"const REFRESH_MS = (\d+);", (
    REPO / "pytest_sacred" / "report" / "page.js").read_text()).group(1))
#: the same refresh when a test makes it sooner: the page and its requests are the same, only
#: the waits for the next refresh are shorter
SOON_REFRESH_MS = 250


def open_page(browser: Any, url: str, refresh_ms: int | None = None) -> Watched:
    """``url`` opened and drawn; with ``refresh_ms``, a served page refreshes that often."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    if refresh_ms is not None:  # the page's only timer of PAGE_REFRESH_MS is its refresh
        page.add_init_script(f"""(() => {{
            const set = window.setTimeout;
            window.setTimeout = (fn, ms, ...args) =>
                set(fn, ms === {PAGE_REFRESH_MS} ? {refresh_ms} : ms, ...args);
        }})()""")
    watched = Watched(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("request", lambda r: watched.requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=15000)
    return watched


def table_ids(page: Any) -> list[int]:
    return [int(k) for k in page.eval_on_selector_all(
        "#runs-table tbody tr", "rows => rows.map(r => r.dataset.key)")]


def pixels_near(page: Any, selector: str, colour: tuple[int, int, int]) -> int:
    """How many pixels of the chart's canvas have (about) ``colour``."""
    count: int = page.eval_on_selector(selector + " canvas", """(canvas, colour) => {
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
            const near = (k) => Math.abs(data[i + k] - colour[k]) < 40;
            if (data[i + 3] > 200 && near(0) && near(1) && near(2)) n++;
        }
        return n;
    }""", list(colour))
    return count


def differing(configs: list[dict[str, Any]]) -> set[str]:
    """Dotted config keys whose values differ among ``configs`` (computed here, in Python)."""
    from pytest_sacred.readers.table import flatten_into

    flats = []
    for config in configs:
        flat: dict[str, Any] = {}
        flatten_into(flat, "", config)
        flats.append({k.lstrip("."): v for k, v in flat.items()})
    keys = set().union(*flats)
    return {k for k in keys if len({json.dumps(f.get(k, "<missing>")) for f in flats}) > 1}


def check_page(watched: Watched, report_store: str) -> None:
    """What every page of :data:`EXPECTED` must do, file or live."""
    from pytest_sacred.readers import open_reader

    page = watched.page
    assert table_ids(page) == sorted(EXPECTED)
    statuses = page.eval_on_selector_all("#runs-table tbody tr .status",
                                         "cells => cells.map(c => c.textContent)")
    assert statuses == [EXPECTED[i][1] for i in sorted(EXPECTED)]
    # sorting: by id descending, then by result (numbers, then text, then none)
    page.click("#runs-table th[data-col=id]")
    assert table_ids(page) == sorted(EXPECTED, reverse=True)
    page.click("#runs-table th[data-col=result]")
    assert table_ids(page) == [1, 2, 4, 3]
    page.click("#runs-table th[data-col=result]")
    assert table_ids(page) == [4, 2, 1, 3]
    # the status filter, and the text filter
    page.select_option("#filter-status", "FAILED")
    assert table_ids(page) == [3]
    page.select_option("#filter-status", "")
    page.fill("#filter-text", "other")
    assert table_ids(page) == [4]
    page.fill("#filter-text", "")
    assert sorted(table_ids(page)) == sorted(EXPECTED)
    # compare two runs: two curves, labelled by what differs, and the differing config keys
    page.check("tr[data-key='1'] input.select")
    page.check("tr[data-key='2'] input.select")
    page.click("#compare-selected")
    page.wait_for_selector(".chart[data-metric=loss] canvas")
    legend = page.eval_on_selector_all(".chart[data-metric=loss] .u-legend .u-series th",
                                       "cells => cells.map(c => c.textContent)")
    assert legend == ["step", "#1 C=0.5", "#2 C=2"]
    assert pixels_near(page, ".chart[data-metric=loss]", FIRST) > 100
    assert pixels_near(page, ".chart[data-metric=loss]", SECOND) > 100
    with open_reader(report_store) as reader:
        configs = [reader.get_run(i).config for i in (1, 2)]
    keys = page.eval_on_selector_all("#config-diff tr[data-key]",
                                     "rows => rows.map(r => r.dataset.key)")
    assert set(keys) == differing(configs) == {"C", "seed"}
    # the CSV of a chart: every stored point of both runs (300 points: kept whole)
    with page.expect_download() as download:
        page.click(".chart[data-metric=loss] button")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "run,metric,step,value"
    with open_reader(report_store) as reader:
        stored = [reader.metric(i, "loss") for i in (1, 2)]
    expected = [[str(i), '"loss"', str(step)] for i, metric in ((1, stored[0]), (2, stored[1]))
                for step in metric.steps]
    assert len(lines) == 601
    assert [line.split(",")[:3] for line in lines[1:]] == expected
    assert [float(line.split(",")[3]) for line in lines[1:]] == \
        [v for metric in stored for v in metric.values]
    # log axis and smoothing redraw without errors
    page.check("#log-scale")
    page.fill("#smoothing", "0.9")
    page.wait_for_selector(".chart[data-metric=loss] canvas")
    # one run whole: config with the hostile text shown as text, the image drawn
    page.click("button[data-view=runs]")
    page.click("tr[data-key='1'] button.link")
    page.wait_for_selector("#run-config")
    assert HOSTILE in page.inner_text("#run-config")
    assert page.evaluate("window.pwned") is None
    width = page.eval_on_selector(".artifact[data-name='plot.png'] img",
                                  "i => i.decode().then(() => i.naturalWidth)")
    assert width == 40
    notes = ".artifact[data-name='notes.txt'] pre"
    # served, an artifact's text is fetched after the run's view is drawn ("…" until then)
    page.wait_for_function(
        f"() => (document.querySelector({json.dumps(notes)}) || {{}}).textContent !== '…'")
    assert page.inner_text(notes) == "C = 0.5\n"
    assert "trained with C=0.5" in page.inner_text("#output")
    page.click("button[data-view=runs]")
    page.click("tr[data-key='3'] button.link")
    page.wait_for_selector("pre.trace")
    assert "C too large" in page.inner_text("pre.trace")


# -- the report file -------------------------------------------------------------------------------


def test_report_file_in_chromium(report_store: str, browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = cli("report", report_store, "-o", str(out))
    assert f"wrote 4 runs to {out}" in proc.stderr
    watched = open_page(browser, out.as_uri())
    check_page(watched, report_store)
    watched.check_clean("file://")


def test_report_filters_as_ls(report_store: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    cli("report", report_store, "--experiment", "svm", "--where", "config.C > 1", "-o", str(out))
    assert [r["id"] for r in embedded(out)["runs"]] == [2, 3]
    for where in ("metrics.loss.last < 0", "metrics.acc.max < 0.5 and config.C > 1"):
        listed = json.loads(cli("ls", report_store, "--where", where, "--json").stdout)
        cli("report", report_store, "--where", where, "-o", str(out))
        assert [r["id"] for r in embedded(out)["runs"]] == [r["id"] for r in listed]
        assert listed  # the filter keeps some runs, and not all
        assert len(listed) < len(EXPECTED)
    cli("report", report_store, "1", "4", "-o", str(out))
    assert [r["id"] for r in embedded(out)["runs"]] == [1, 4]
    cli("report", report_store, "--status", "FAILED", "-o", str(out))
    document = embedded(out)
    (run,) = document["runs"]
    assert (run["id"], run["status"], run["finals"]["acc"]) == (3, "FAILED", 0.8)
    assert run["metrics"]["loss"]["count"] == 300 and run["metrics"]["loss"]["full"]


def test_report_usage_errors(report_store: str, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "r.html"
    assert "does not exist" in cli("report", report_store, "-o", str(missing), code=2).stderr
    assert "--points 'x'" in cli("report", report_store, "--points", "x", "-o",
                                 str(tmp_path / "r.html"), code=2).stderr
    assert "cannot read the store" in cli("report", str(tmp_path / "nothing"), "-o",
                                          str(tmp_path / "r.html"), code=3).stderr
    assert "no column" in cli("report", report_store, "--where", "config.nope > 1", "-o",
                              str(tmp_path / "r.html"), code=2).stderr
    assert "cannot read the store" in cli("serve", str(tmp_path / "nothing"), code=3).stderr
    assert "--port 70000" in cli("serve", report_store, "--port", "70000", code=2).stderr


def test_points_option_thins_the_curves(report_store: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    cli("report", report_store, "1", "--points", "20", "-o", str(out))
    loss = embedded(out)["runs"][0]["metrics"]["loss"]
    assert not loss["full"] and len(loss["steps"]) <= 22
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 299
    assert loss["max"] == max(loss["values"]) and loss["count"] == 300


# -- units ---------------------------------------------------------------------------------------


def test_point_budget_is_shared_among_every_curve(report_store: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's points are shared out among all curves of all its runs."""
    from pytest_sacred import report
    from pytest_sacred.readers import open_reader

    monkeypatch.setattr(report, "POINT_BUDGET", 600)
    monkeypatch.setattr(report, "MIN_POINTS", 4)
    with open_reader(report_store) as reader:
        document = report.runs_document([(reader, dict.fromkeys(EXPECTED, "run"))])
    assert document["points"] == 100  # 600 points, 6 curves: loss and acc of runs 1 to 3
    loss = document["runs"][0]["metrics"]["loss"]
    assert not loss["full"] and 50 < len(loss["steps"]) <= 102 and loss["count"] == 300
    assert document["runs"][0]["metrics"]["acc"]["full"]


def test_thin_keeps_every_extreme_and_both_ends() -> None:
    from pytest_sacred.readers.base import Metric
    from pytest_sacred.report import thin

    values = [float(i % 7) for i in range(1000)]
    values[500], values[501] = 100.0, -100.0
    steps = list(range(1000))
    shown = thin(Metric("m", steps, values, [None] * 1000), 50)
    assert not shown["full"] and len(shown["steps"]) <= 52
    assert shown["steps"] == sorted(shown["steps"])
    assert {0, 999, 500, 501} <= set(shown["steps"])
    assert max(shown["values"]) == 100.0 and min(shown["values"]) == -100.0
    whole = thin(Metric("m", steps[:10], values[:9] + [float("nan")], [None] * 10), 50)
    assert whole["full"] and whole["values"][-1] is None
    gaps = [None if i % 3 == 0 else float(i) for i in range(1000)]
    thinned = thin(Metric("m", steps, gaps, [None] * 1000), 40)
    # the first and last points are kept as they are (no value there); between them, numbers
    assert 998.0 in thinned["values"] and 1.0 in thinned["values"]
    assert thinned["values"][0] is None and thinned["values"][-1] is None
    assert None not in thinned["values"][1:-1]


@pytest.mark.parametrize("report_store", ["file"], indirect=True)  # edits a copy of it
def test_died_shows_as_ls_shows_it(tmp_path: Path, report_store: str) -> None:
    """A RUNNING run whose heartbeat stopped long ago is DIED? in the page, as in ``ls``."""
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(report_store, copy)
    run_json = copy / "3" / "run.json"
    record = json.loads(run_json.read_text())
    record.update(status="RUNNING", heartbeat="2020-01-01T00:00:00", stop_time=None)
    run_json.write_text(json.dumps(record))
    out = tmp_path / "r.html"
    cli("report", str(copy), "--status", "DIED?", "-o", str(out))
    assert [(r["id"], r["status"]) for r in embedded(out)["runs"]] == [(3, "DIED?")]
    listed = json.loads(cli("ls", str(copy), "--json").stdout)
    assert [r["status"] for r in listed if r["id"] == 3] == ["DIED?"]


@pytest.mark.parametrize("report_store", ["file"], indirect=True)  # edits a copy of it
def test_run_view_marks_updates_and_failing_checks(tmp_path: Path, report_store: str,
                                                   browser: Any) -> None:
    """Config entries set by --sacred-with are marked; a regression verdict in
    ``info.regression`` (any dict) is shown, its failing entries highlighted."""
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(report_store, copy)
    run_json = copy / "2" / "run.json"
    record = json.loads(run_json.read_text())
    record["meta"]["config_updates"] = {"optimizer": {"lr": 0.1}}
    run_json.write_text(json.dumps(record))
    info_json = copy / "2" / "info.json"
    info = json.loads(info_json.read_text())
    info["regression"] = {"baseline": 1, "rules": [
        {"rule": "result:-5%", "change": "+300 %", "passed": True},
        {"rule": "metric:loss:+2%", "change": "+9.1 %", "passed": False}]}
    info_json.write_text(json.dumps(info))
    out = tmp_path / "r.html"
    cli("report", str(copy), "-o", str(out))
    watched = open_page(browser, out.as_uri())
    page = watched.page
    verdicts = page.eval_on_selector_all("#runs-table tbody tr", """rows => rows.map(r =>
        [r.dataset.key, r.querySelector(".verdict") && r.querySelector(".verdict").textContent])""")
    assert verdicts == [["1", None], ["2", "fail"], ["3", None], ["4", None]]
    page.click("tr[data-key='2'] button.link")
    page.wait_for_selector("#regression")
    failing = page.eval_on_selector_all("#regression li.fail",
                                        "items => items.map(i => i.dataset.path)")
    assert failing == ["rules.1", "rules.1.passed"]  # the rule, and its failing entry
    assert "metric:loss:+2%" in page.inner_text("#regression")
    updated = page.eval_on_selector_all("#run-config li.updated",
                                        "items => items.map(i => i.dataset.path)")
    assert updated == ["optimizer.lr"]
    watched.check_clean("file://")


# -- serve -----------------------------------------------------------------------------------------


@pytest.fixture
def served(report_store: str) -> Iterator[str]:
    """``pytest-sacred serve STORE --port 0`` running; yields its address."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest_sacred", "serve", report_store, "--port",
                             "0"], env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert found, line
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fetch(url: str, method: str = "GET", host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("report_store", ["file"], indirect=True)  # edits a copy of it
def test_serve_reads_the_metrics_of_ended_runs_once(tmp_path: Path, report_store: str) -> None:
    """A refresh of the table reads again only the metrics of runs still going."""
    import shutil
    import threading

    from pytest_sacred.readers.table import run_rows
    from pytest_sacred.report.serve import _EndedSummaries
    from pytest_sacred.stores.file.reader import FileReader

    copy = tmp_path / "runs"
    shutil.copytree(report_store, copy)
    run_json = copy / "3" / "run.json"
    record = json.loads(run_json.read_text())
    record.update(status="RUNNING", stop_time=None)
    run_json.write_text(json.dumps(record))
    asked: list[list[int]] = []

    class Counting(FileReader):
        def metric_summaries(self, runs: list[Any]) -> Any:
            asked.append([r.id for r in runs])
            return super().metric_summaries(runs)

    known: dict[Any, Any] = {}
    lock = threading.Lock()
    tables = []
    for _ in range(3):
        with _EndedSummaries(Counting(copy), known, lock) as reader:
            tables.append(run_rows(reader))
    assert asked == [[1, 2, 3, 4], [3], [3]]
    assert tables[0] == tables[1] == tables[2]
    assert tables[0][0]["metrics.loss.last"] == pytest.approx(1 / 300 / 0.5 + 0.01 * math.sin(299))


def test_serve_in_chromium(report_store: str, served: str, browser: Any) -> None:
    watched = open_page(browser, served)
    check_page(watched, report_store)
    watched.check_clean(served)


def test_serve_serves_only_the_store(report_store: str, served: str) -> None:
    status, body = fetch(served + "api/artifact?key=1&name=plot.png")
    assert status == 200 and body.startswith(b"\x89PNG")
    for path in ("api/artifact?key=1&name=../../../../etc/passwd",
                 "api/artifact?key=1&name=%2Fetc%2Fpasswd", "api/artifact?key=1&name=config.json",
                 "../../../../etc/passwd", "api/run?key=../1", "api/run?key=99",
                 "api/points?key=1&name=../../metrics.json"):
        status, body = fetch(served + path)
        assert status == 404, (path, status, body)
        assert b"root:" not in body
    assert fetch(served + "api/run")[0] == 400
    assert fetch(served + "api/runs", method="POST")[0] == 405
    assert fetch(served + "api/runs", method="DELETE")[0] == 405
    assert fetch(served + "api/runs", host="attacker.example:80")[0] == 403
    status, body = fetch(served + "api/points?key=1&name=loss")
    points = json.loads(body)
    assert status == 200 and points["steps"] == list(range(300))


def test_serve_picks_up_a_run_finishing_after_the_page_opened(
        browser: Any, tmp_path: Path, report_store: str) -> None:
    kind = "file" if report_store.startswith("/") else "sqlite"
    options, name = _store_options(kind, tmp_path)
    _session(tmp_path, *options, "-k", "not slow")
    proc = subprocess.Popen([sys.executable, "-m", "pytest_sacred", "serve", name, "--port",
                             "0"], env=_env(), stderr=subprocess.PIPE, text=True)
    flag = tmp_path / "finish"
    sweep = None
    try:
        assert proc.stderr is not None
        address = re.search(r"(http://\S+/)", proc.stderr.readline())
        assert address, "no address printed"
        served = address.group(1)
        watched = open_page(browser, served, refresh_ms=SOON_REFRESH_MS)
        page = watched.page
        page.evaluate("window.sameDocument = true")
        assert table_ids(page) == [1, 2, 3, 4]
        sweep = _session(tmp_path, *options, "-k", "slow", "--sacred-heartbeat", "0.5",
                         env=_env(REPORT_TEST_FLAG=str(flag)), wait=False)
        page.wait_for_selector("tr[data-key='5'] .status.RUNNING", timeout=30000)
        # its curve, while it runs, in the compare view
        page.check("tr[data-key='5'] input.select")
        page.click("#compare-selected")
        page.wait_for_selector(".chart[data-metric=loss] canvas")
        page.click("button[data-view=runs]")
        flag.write_text("done")
        page.wait_for_selector("tr[data-key='5'] .status.COMPLETED", timeout=30000)
        row = page.inner_text("tr[data-key='5']")
        assert "slow" in row and "42" in row
        assert page.evaluate("window.sameDocument") is True  # refreshed, not reloaded
        watched.check_clean(served)
        out, _ = sweep.communicate(timeout=60)
        assert sweep.returncode == 0, out
    finally:
        flag.write_text("done")
        if sweep is not None and sweep.poll() is None:
            sweep.kill()
        proc.terminate()
        proc.wait(timeout=10)


# -- --sacred-report ----------------------------------------------------------------------------


@pytest.mark.system  # pytest sessions in subprocesses
def test_session_report_has_its_runs_and_their_baselines(tmp_path: Path) -> None:
    first = _session(tmp_path, "-k", "svm")
    assert first.returncode == 1
    proc = _session(tmp_path, "-k", "svm", "--sacred-compare", "last", "--sacred-report",
                    "page.html", wait=False)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    table = out[out.index("pytest-sacred runs"):]
    assert "report of 5 runs: page.html" in table.splitlines()[5], table
    document = embedded(tmp_path / "page.html")
    assert [(r["id"], r["role"]) for r in document["runs"]] == [
        (4, "run"), (5, "run"), (6, "run"), (1, "baseline"), (2, "baseline")]
    assert document["runs"][1]["metrics"]["loss"]["count"] == 300


def test_session_report_directory_must_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest("--sacred-report", "nowhere/page.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--sacred-report nowhere/page.html: directory" in result.stderr.str()
