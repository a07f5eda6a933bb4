"""The ``pytest-sacred`` command: look at stored runs without writing Python.

    pytest-sacred ls runs/ --where "config.C > 1" --sort=-result --last 10
    pytest-sacred show runs/ 3
    pytest-sacred compare localhost:27017:MY_DB 12 13 14
    pytest-sacred export runs/ -o runs.csv        # .csv, .json or .parquet
    pytest-sacred plot runs/ 1 2 3 --metric train.loss -o loss.png

Exit codes: 0 ok, 1 a needed optional package is missing, 2 bad usage, 3 the store cannot
be read (or is no store), 4 no such run or metric. Each subcommand is one entry of
:data:`COMMANDS`: a function adding its arguments and a function running it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

OK, MISSING_PACKAGE, USAGE, UNREADABLE, NO_SUCH_RUN = 0, 1, 2, 3, 4


class UsageError(Exception):
    """Arguments that parse but cannot be honoured (exit code 2)."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- formatting --------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO text, NaN as null, the rest as text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def cell(value: Any, width: int = 40) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else json.dumps(plain(value))
    return text if len(text) <= width else text[:width - 1] + "…"


def exact(value: Any, width: int = 200) -> str:
    """A stored value as JSON text (8.0 stays 8.0, strings are quoted), shortened."""
    text = json.dumps(plain(value))
    return text if len(text) <= width else text[:width - 1] + "…"


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def change(old: Any, new: Any) -> str:
    """The signed change from ``old`` to ``new``: ``-0.012 (-1.3 %)``; ``""`` if not numbers."""
    numbers = (int, float)
    if not isinstance(old, numbers) or not isinstance(new, numbers) or \
            isinstance(old, bool) or isinstance(new, bool):
        return ""
    delta = new - old
    if old == 0:
        return f"{delta:+.6g}"
    return f"{delta:+.6g} ({delta / abs(old) * 100:+.1f} %)"


def _print_table(headers: Sequence[str], cells: list[list[str]]) -> None:
    from .textable import aligned_lines

    print("\n".join(aligned_lines(headers, cells)))


def _json_out(value: Any) -> None:
    print(json.dumps(plain(value), indent=2, sort_keys=False))


# -- shared arguments ----------------------------------------------------------------------------


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", metavar="STORE",
                        help="a file-store directory, mongodb://… or HOST:PORT:DB")


def _filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", help="only runs of this experiment")
    parser.add_argument("--status", help="only runs with this status (COMPLETED, FAILED, "
                                         "RUNNING, DIED?, …)")
    parser.add_argument("--where", metavar="EXPR",
                        help="only runs for which EXPR holds, e.g. 'config.C > 1 and result "
                             "> 0.9' (columns as in ls --json)")


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise UsageError(f"run ids are integers, got {' '.join(values)!r}") from None


def _rows(args: argparse.Namespace, ids: list[int] | None = None) -> list[dict[str, Any]]:
    from .readers.table import run_rows

    return run_rows(args.store, experiment=getattr(args, "experiment", None),
                    status=getattr(args, "status", None), where=getattr(args, "where", None),
                    ids=ids)


def _rows_of(args: argparse.Namespace, ids: list[int]) -> list[dict[str, Any]]:
    """Rows of exactly these runs, in the order given; NoSuchRun names the missing ones."""
    from .readers import NoSuchRun

    rows = {row["id"]: row for row in _rows(args, ids)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NoSuchRun(f"no run {', '.join(map(str, missing))} in {args.store} "
                        f"(`pytest-sacred ls {args.store}` lists the runs)")
    return [rows[i] for i in ids]


# -- ls ------------------------------------------------------------------------------------------


def _ls_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    _filter_arguments(parser)
    parser.add_argument("--sort", metavar="COLUMN",
                        help="sort by this column; --sort=-COLUMN sorts descending, "
                             "e.g. --sort=-result")
    parser.add_argument("--last", type=int, metavar="N", help="only the N highest ids")
    parser.add_argument("--columns", metavar="A,B,…",
                        help="show these columns (default: id, experiment, status, start, "
                             "duration, result, config entries that differ, last metrics)")
    parser.add_argument("--json", action="store_true", help="every column, as JSON")


def _sorted(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    descending = key.startswith("-")
    column = key.lstrip("-")
    if rows and not any(column in row for row in rows):
        from .readers.table import columns_of

        raise UsageError(f"--sort {key!r}: no column {column!r}; the columns are: "
                         f"{', '.join(columns_of(rows))}")
    present = [r for r in rows if r.get(column) is not None]
    absent = [r for r in rows if r.get(column) is None]
    try:
        present.sort(key=lambda r: r[column], reverse=descending)
    except TypeError:  # mixed types: compare as text
        present.sort(key=lambda r: str(r[column]), reverse=descending)
    return present + absent  # runs without the value last either way


def default_columns(rows: list[dict[str, Any]]) -> list[str]:
    """What ``ls`` shows: the fixed columns, config entries that differ, last metrics."""
    from .readers.table import columns_of

    columns = ["id", "experiment", "status", "start_time", "duration"]
    every = columns_of(rows)
    varying = [c for c in every if c.startswith("config.") and c != "config.seed"
               and len({json.dumps(plain(r.get(c)), sort_keys=True) for r in rows}) > 1]
    results = [c for c in every if c == "result" or c.startswith("result.")]
    metrics = [c for c in every if c.startswith("metrics.") and c.endswith(".last")]
    return columns + results + varying + metrics


def ls(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.last is not None:
        if args.last < 1:
            raise UsageError(f"--last {args.last}: give a positive number of runs")
        rows = rows[-args.last:]
    if args.sort:
        rows = _sorted(rows, args.sort)
    if args.json:
        _json_out(rows)
        return OK
    if not rows:
        print(f"no runs in {args.store}" + (" match" if args.where or args.status
                                           or args.experiment else ""), file=sys.stderr)
        return OK
    columns = args.columns.split(",") if args.columns else default_columns(rows)
    unknown = [c for c in columns if not any(c in row for row in rows)]
    if unknown:
        raise UsageError(f"--columns: no column {', '.join(unknown)} in these runs")
    headers = [c.replace("metrics.", "").replace("config.", "") if c.startswith(
        ("metrics.", "config.")) else c for c in columns]
    headers = ["started" if h == "start_time" else h for h in headers]
    _print_table(headers, [[seconds(r.get(c)) if c == "duration" else cell(r.get(c))
                            for c in columns] for r in rows])
    return OK


# -- show ----------------------------------------------------------------------------------------


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("id", metavar="ID", help="the run id")
    parser.add_argument("--json", action="store_true", help="everything stored, as JSON")


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    from .readers.table import flatten_into

    out: dict[str, Any] = {}
    flatten_into(out, prefix, value)
    return out


def _metric_refs(value: Any) -> bool:
    """Whether an ``info.metrics`` value is a MongoDB store's list of metric documents
    (which Sacred's observer also puts in the info other stores see), not the user's."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, dict) and set(v) == {"id", "name"} for v in value)


def show(args: argparse.Namespace) -> int:
    from .readers.status import shown_status
    from .readers.table import duration, reader_for

    (run_id,) = _ids([args.id])
    reader, _ = reader_for(args.store)
    with reader:
        run = reader.get_run(run_id)
        summaries = reader.metric_summaries([run])[run.id]
    status = shown_status(run)
    if args.json:
        _json_out({**asdict(run), "shown_status": status, "duration": duration(run),
                   "metrics": {n: s._asdict() for n, s in summaries.items()}})
        return OK
    host = run.host
    lines = [f"run {run.id} of {reader.location}: {run.experiment.get('name')}, {status}",
             f"  command   {run.command or ''}",
             f"  started   {cell(run.start_time)}",
             f"  stopped   {cell(run.stop_time)}   duration {seconds(duration(run))}",
             f"  host      {host.get('hostname', '')}  {' '.join(map(str, host.get('os') or []))}"
             f"  Python {host.get('python_version', '?')}"]
    for repo in run.experiment.get("repositories") or []:
        lines.append(f"  git       {repo.get('url')} {repo.get('commit')}"
                     + ("  (dirty)" if repo.get("dirty") else ""))
    lines.append(f"  result    {exact(run.result)}")
    lines.append("config")
    lines += [f"  {k[len('config.'):]} = {exact(v)}" for k, v in
              _flat("config", run.config).items()]
    if summaries:
        lines.append("metrics")
        cells = [[name, str(s.count), cell(s.last), cell(s.min), cell(s.max)]
                 for name, s in sorted(summaries.items())]
        from .textable import aligned_lines

        lines += ["  " + line for line in
                  aligned_lines(["name", "points", "last", "min", "max"], cells)]
    if run.artifacts:
        lines.append("artifacts")
        lines += [f"  {name}" for name in run.artifacts]
    if run.info:
        lines.append("info")
        lines += [f"  {k[len('info.'):]} = {exact(v)}" for k, v in
                  _flat("info", run.info).items()
                  if not (k == "info.metrics" and _metric_refs(v))]
    if run.fail_trace:
        lines.append("fail_trace")
        lines += ["  " + line for line in "".join(run.fail_trace).rstrip().splitlines()]
    print("\n".join(lines))
    return OK


# -- compare -------------------------------------------------------------------------------------


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("ids", nargs="+", metavar="ID", help="two or more run ids; changes "
                                                             "are shown against the first")


def compare(args: argparse.Namespace) -> int:
    from .readers.table import columns_of

    ids = _ids(args.ids)
    if len(ids) < 2:
        raise UsageError("compare needs two or more run ids")
    rows = _rows_of(args, ids)
    first = rows[0]
    every = columns_of(rows)
    config = [c for c in every if c.startswith("config.")]
    differing = [c for c in config
                 if len({json.dumps(plain(r.get(c)), sort_keys=True) for r in rows}) > 1]
    shown = (["experiment", "status"] + differing
             + [c for c in every if c == "result" or c.startswith("result.")]
             + [c for c in every if c.startswith("metrics.") and c.endswith(".last")]
             + ["duration"])
    measured = {c for c in shown if c == "result" or c.startswith(("result.", "metrics."))}
    cells = []
    for column in shown:
        line = [column]
        for row in rows:
            value = row.get(column)
            text = seconds(value) if column == "duration" else cell(value)
            delta = change(first.get(column), value) if row is not first and \
                column in measured else ""
            line.append(f"{text}  {delta}" if delta else text)
        cells.append(line)
    _print_table([""] + [f"#{i}" for i in ids], cells)
    same = len(config) - len(differing)
    print(f"({same} config entr{'y' if same == 1 else 'ies'} equal"
          f"{', seed among those differing' if 'config.seed' in differing else ''})")
    return OK


# -- export --------------------------------------------------------------------------------------


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    _filter_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="runs.csv, runs.json or runs.parquet (needs pyarrow)")


def export(args: argparse.Namespace) -> int:
    from .readers.table import columns_of

    out = Path(args.output)
    kind = out.suffix.lower()
    if kind not in (".csv", ".json", ".parquet"):
        raise UsageError(f"-o {args.output!r}: the name must end in .csv, .json or .parquet")
    if not out.parent.is_dir():
        raise UsageError(f"-o {args.output!r}: directory {str(out.parent)!r} does not exist")
    if kind == ".parquet":  # before reading anything
        from .extras import require

        require("pandas", "parquet", "export to .parquet")
        require("pyarrow", "parquet", "export to .parquet")
    rows = _rows(args)
    columns = columns_of(rows)
    if kind == ".json":
        out.write_text(json.dumps(plain(rows), indent=1), encoding="utf-8")
    elif kind == ".csv":
        import csv

        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(plain(v)) if isinstance(v, (dict, list))
                                 else plain(v) for k, v in row.items()})
    else:
        from .readers.api import load_runs

        frame = load_runs(args.store, experiment=args.experiment, status=args.status,
                          where=args.where)
        for column in frame.columns:  # parquet columns hold one type: lists/dicts as JSON
            if frame[column].map(lambda v: isinstance(v, (dict, list))).any():
                frame[column] = frame[column].map(lambda v: json.dumps(plain(v)))
        frame.to_parquet(out, index=False)
    print(f"wrote {len(rows)} run{'s' if len(rows) != 1 else ''} to {out}", file=sys.stderr)
    return OK


# -- plot ----------------------------------------------------------------------------------------


def _plot_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("ids", nargs="+", metavar="ID", help="the runs to draw")
    parser.add_argument("--metric", required=True, help="the metric to draw, e.g. train.loss")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png",
                        help="the image (any format matplotlib writes: .png, .svg, .pdf)")


def plot(args: argparse.Namespace) -> int:
    from .extras import require
    from .readers import NoSuchRun
    from .readers.table import reader_for

    ids = _ids(args.ids)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"-o {args.output!r}: directory {str(out.parent)!r} does not exist")
    require("matplotlib", "analysis", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    reader, _ = reader_for(args.store)
    with reader:
        runs = {i: reader.get_run(i) for i in ids}  # NoSuchRun for a missing id
        curves, lacking = {}, []
        for i, run in runs.items():
            if args.metric in run.metric_names:
                curves[i] = reader.metric(i, args.metric)
            else:
                lacking.append(i)
    if not curves:
        names = sorted({n for run in runs.values() for n in run.metric_names})
        raise NoSuchRun(f"no run of {', '.join(map(str, ids))} has metric {args.metric!r} "
                        f"(they have: {', '.join(names) or 'no metrics'})")
    if lacking:
        print(f"runs {', '.join(map(str, lacking))} have no metric {args.metric!r}: not drawn",
              file=sys.stderr)
    differing = _differing_config([runs[i].config for i in curves])
    experiments = sorted({str(runs[i].experiment.get("name")) for i in curves})
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    styles = ("-", "--", "-.", ":")  # curves that coincide stay told apart
    for n, (i, metric) in enumerate(curves.items()):
        label = " ".join([f"#{i}"] + ([str(runs[i].experiment.get("name"))]
                                      if len(experiments) > 1 else [])
                         + [", ".join(f"{k}={cell(runs[i].config.get(k), 20)}"
                                      for k in differing)])
        axes.plot(metric.steps, metric.values, linestyle=styles[n % len(styles)],
                  marker="os^Dv<>"[n % 7] if len(metric.steps) <= 50 else None,
                  markersize=4, label=label.strip())
    axes.set_xlabel("step")
    axes.set_ylabel(args.metric)
    axes.set_title(f"{args.metric} of {len(curves)} run{'s' if len(curves) != 1 else ''}"
                   f" ({', '.join(experiments)})")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out)
    print(f"wrote {out}", file=sys.stderr)
    return OK


def _differing_config(configs: list[dict[str, Any]]) -> list[str]:
    """Top-level config keys (seed aside) whose values differ among ``configs``."""
    keys = sorted({k for c in configs for k in c} - {"seed"})
    return [k for k in keys
            if len({json.dumps(plain(c.get(k)), sort_keys=True) for c in configs}) > 1]


#: the subcommands, in the order ``--help`` lists them; add one with one entry here
def _requeue_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("ids", nargs="+", metavar="ID", help="runs to queue again")


def requeue(args: argparse.Namespace) -> int:
    """Issue 13: runs a killed worker left (DIED?) or that failed go back in the queue."""
    from .queue import requeue_runs

    try:
        lines = requeue_runs(args.store, _ids(args.ids))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for line in lines:
        print(line)
    return OK


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    from . import spill

    spill.arguments(parser)


def _replay(args: argparse.Namespace) -> int:
    from . import spill

    return spill.run(args)


COMMANDS: list[Command] = [
    Command("ls", "list runs as a table", _ls_arguments, ls),
    Command("show", "one run: config, result, metrics, artifacts, host, git, fail_trace",
            _show_arguments, show),
    Command("compare", "runs side by side: config differences, result and metric changes",
            _compare_arguments, compare),
    Command("export", "runs as a table file (.csv, .json, .parquet)", _export_arguments,
            export),
    Command("plot", "one metric of several runs in one image", _plot_arguments, plot),
    Command("requeue", "put runs shown DIED? (or FAILED, INTERRUPTED) back in the queue of a "
            "MongoDB or SQL store, for --sacred-run-queued workers", _requeue_arguments,
            requeue),
    Command("replay", "write a spill file's events (runs/_spill/*.jsonl) into its store",
            _replay_arguments, _replay),
]



def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pytest-sacred", description="Look at runs stored by pytest-sacred or Sacred.",
        epilog="exit codes: 0 ok, 1 an optional package is missing, 2 bad usage, 3 the "
               "store cannot be read, 4 no such run or metric, 5 (replay) some events could "
               "not be written")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(child)
        child.set_defaults(run=command.run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    from .extras import MissingExtra
    from .readers import NoSuchRun, StoreUnreadable
    from .where import WhereError

    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (UsageError, WhereError) as exc:
        print(f"pytest-sacred {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except StoreUnreadable as exc:
        print(f"pytest-sacred {args.command}: cannot read the store: {exc}", file=sys.stderr)
        return UNREADABLE
    except NoSuchRun as exc:
        print(f"pytest-sacred {args.command}: {exc.args[0] if exc.args else exc}",
              file=sys.stderr)
        return NO_SUCH_RUN
    except MissingExtra as exc:
        print(f"pytest-sacred {args.command}: {exc}", file=sys.stderr)
        return MISSING_PACKAGE
    except BrokenPipeError:  # `pytest-sacred ls … | head`
        return OK


if __name__ == "__main__":
    sys.exit(main())
