"""The table of runs printed at the end of a session, and the row each run contributes.

Rows travel on the test report (``report.sacred_run``), so pytest-xdist brings the rows of
its workers to the controller, which prints the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .record import RunRecord
    from .session import SacredSession

from .serialize import safe_repr
from .textable import aligned_lines

COLUMNS = ("id", "experiment", "variant", "status", "result", "duration", "stored in")


def row(record: RunRecord, variant: str, stores: list[str], errors: list[str],
        node: str = "") -> dict[str, Any]:
    start, stop = record.start_time, record.stop_time
    duration = (stop - start).total_seconds() if stop and start else None
    return {
        "id": record.run_id,
        "experiment": record.experiment_info["name"],
        "variant": variant,
        "status": record.status,
        "result": _short(safe_repr(record.result)) if record.result is not None else "",
        "duration": duration,
        "stored in": stores,
        "errors": errors,
        "node": node,
    }


def group_entry(label: str, seed_index: tuple[int, int], record: RunRecord,
                cell: dict[str, Any] | None) -> dict[str, Any]:
    """What a run of a group of seeds adds to its row for the table of groups: plain data
    (it travels to the xdist controller)."""
    def number(value: Any) -> float | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value)
        return None

    return {"label": label, "index": seed_index[0], "count": seed_index[1],
            "result": number(record.result) if record.status == "COMPLETED" else None,
            "finals": {name: number(value) for name, value in record.metrics.finals.items()
                       if record.status == "COMPLETED" and number(value) is not None},
            "vs": cell}


def group_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], str | None]:
    """The table of groups of seeds: per group, its completed runs of all, the mean ± std
    (95 % interval of the mean) of the result and of each final metric, and its check.
    Also a note when the intervals are left out (scipy missing)."""
    from .extras import MissingExtra
    from .stats import scipy_stats, spread

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("group"):
            groups.setdefault(r["group"]["label"], []).append(r["group"])
    if not groups:
        return [], [], None
    note = None
    try:
        scipy_stats()
        interval = True
    except MissingExtra as exc:
        interval, note = False, f"the 95 % intervals of the groups are left out: {exc}"
    metrics = sorted({name for entries in groups.values() for e in entries
                      for name in e["finals"]})
    checked = any(e.get("vs") for entries in groups.values() for e in entries)
    headers = ["group", "runs", "result", *metrics] + (["vs baseline"] if checked else [])
    lines = []
    for label, entries in groups.items():
        def cell(values: list[float]) -> str:
            return spread(values, interval=interval).text() if values else ""

        results = [e["result"] for e in entries if e["result"] is not None]
        line = [label, f"{len(results)}/{entries[0]['count']}", cell(results)]
        line += [cell([e["finals"][m] for e in entries if m in e["finals"]]) for m in metrics]
        if checked:
            verdict = next((e["vs"] for e in entries if e.get("vs")), None)
            line.append(verdict["text"] if verdict else "")
        lines.append(line)
    return headers, lines, note


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_table(rows: list[dict[str, Any]], write: Callable[..., None]) -> None:
    columns: tuple[str, ...] = COLUMNS
    cells = [
        [
            "-" if r["id"] is None else str(r["id"]),
            r["experiment"],
            r["variant"],
            r["status"] or "",
            r["result"],
            "" if r["duration"] is None else f"{r['duration']:.2f}s",
            ", ".join(r["stored in"]) or "(unobserved)",
        ]
        for r in rows
    ]
    if any(r.get("vs") for r in rows):  # regression checks: the change vs each baseline
        from .compare import cell_text, column_title

        title = column_title([r["vs"] for r in rows if r.get("vs")])  # it skips the others
        columns = COLUMNS[:5] + (title,) + COLUMNS[5:]
        for r, line in zip(rows, cells, strict=False):
            line.insert(5, cell_text(r.get("vs"), title))
    if any(r.get("log") for r in rows):  # runs of launched tasks name their Slurm log
        columns = (*columns, "log")
        for line, r in zip(cells, rows, strict=False):
            line.append(r.get("log") or "")
    header, *lines = aligned_lines(columns, cells)
    write(header, bold=True)
    for text in lines:
        write(text)


def write_summary(terminalreporter: Any, state: SacredSession) -> None:
    """The runs table and the observer errors, at the end of the session."""
    # reports from xdist workers carry their rows too; the workers' final word updates them
    rows = [r.sacred_run for reports in terminalreporter.stats.values() for r in reports
            if getattr(r, "sacred_run", None)] + state.interrupted_rows
    final: dict[str, Any] = {}
    notices = state.take_notices()
    spills = state.delivery.spill_files if state.delivery is not None else []
    for result in state.worker_results:
        final.update(result["rows"])
        rows += result["interrupted_rows"]
        notices += result["notices"]
        spills += result["spill_files"]
    for r in rows:
        r.update(final.get(r.get("node"), {}))
    if notices:
        from .session import write_notices

        write_notices(state.config, notices)
    if rows:
        rows.sort(key=lambda r: (r["id"] is None, r["id"] or 0))
        terminalreporter.section("pytest-sacred runs")
        write_table(rows, terminalreporter.write_line)
        headers, lines, note = group_table(rows)
        if lines:
            terminalreporter.section("pytest-sacred groups of seeds")
            header, *texts = aligned_lines(headers, lines)
            terminalreporter.write_line(header, bold=True)
            for text in texts:
                terminalreporter.write_line(text)
            if note:
                terminalreporter.write_line(note, yellow=True)
        if state.options.report is not None and not hasattr(state.config, "workerinput"):
            from .report import session_report

            session_report(state, rows, terminalreporter.write_line)
    errors = [e for r in rows for e in r["errors"]] + [
        e.describe() for e in state.events.errors if e.run_id is None]
    if errors:
        terminalreporter.section("pytest-sacred observer errors", red=True)
        for line in dict.fromkeys(errors):
            terminalreporter.write_line(line, red=True)
    from .session import short_path

    for path in map(short_path, spills):
        terminalreporter.write_line(f"unwritten events kept in {path}; write them into the "
                                    f"store with: python -m pytest_sacred replay {path}",
                                    red=True)
    if state.store_failed:
        from .delivery import STORE_FAILED

        terminalreporter.write_line(
            "pytest-sacred: some runs, or parts of runs, were not stored (see above); "
            f"exit code {STORE_FAILED} if the tests passed", red=True, bold=True)
