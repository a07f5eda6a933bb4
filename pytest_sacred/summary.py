"""The table of runs printed at the end of a session, and the row each run contributes.

Rows travel on the test report (``report.sacred_run``), so pytest-xdist brings the rows of
its workers to the controller, which prints the table.
"""

from __future__ import annotations

from typing import Any, Callable

from .textable import aligned_lines

COLUMNS = ("id", "experiment", "variant", "status", "result", "duration", "stored in")


def row(run: Any, variant: str, stores: list[str], errors: list[str]) -> dict:
    duration = (run.stop_time - run.start_time).total_seconds() if run.stop_time and run.start_time else None
    return {
        "id": run._id,
        "experiment": run.experiment_info["name"],
        "variant": variant,
        "status": run.status,
        "result": _short(repr(run.result)) if run.result is not None else "",
        "duration": duration,
        "stored in": stores,
        "errors": errors,
    }


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_table(rows: list[dict], write: Callable[..., None]) -> None:
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
    columns = COLUMNS
    if any(r.get("log") for r in rows):  # issue 13: runs of launched tasks name their log
        columns = (*COLUMNS, "log")
        for line, r in zip(cells, rows):
            line.append(r.get("log") or "")
    header, *lines = aligned_lines(columns, cells)
    write(header, bold=True)
    for line in lines:
        write(line)
