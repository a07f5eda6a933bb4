"""The ``pytest-sacred`` command: look at stored runs without writing Python.

    pytest-sacred ls runs/ --where "config.C > 1" --sort=-result --last 10
    pytest-sacred show runs/ 3
    pytest-sacred compare localhost:27017:MY_DB 12 13 14
    pytest-sacred export runs/ -o runs.csv        # .csv, .json or .parquet
    pytest-sacred plot runs/ 1 2 3 --metric train.loss -o loss.png
    pytest-sacred plot runs/ --where "config.C > 1" --metric train.loss -o loss.png

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
    if "check" in every:  # regression verdicts stored with the runs
        columns.insert(3, "check")
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


def _verdict_lines(info: dict[str, Any]) -> list[str]:
    """The run's regression verdict, when it was stored with one: the outcome, the rules
    and each change against the baseline."""
    from .readers.table import check_text

    text = check_text(info)
    if text is None:
        return []
    verdict = info["regression"]
    lines = [f"  check     {text}  (rules: {' '.join(map(str, verdict.get('rules') or []))}; "
             f"test {verdict.get('test_outcome', '?')})"]
    for found in verdict.get("changes") or []:
        if isinstance(found, dict):
            of = " (means of the groups)" if found.get("of") == "mean" else ""
            lines.append(f"            {found.get('name')}: {cell(found.get('old'))} -> "
                         f"{cell(found.get('new'))}  {found.get('text', '')}{of}")
    tests = verdict.get("tests") or {}
    for rule, found in tests.items() if isinstance(tests, dict) else ():
        if isinstance(found, dict):
            lines.append(f"            {rule}: {found.get('text', '')}")
    lines += [f"            {error}" for error in verdict.get("errors") or []]
    return lines


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
    lines += _verdict_lines(run.info)
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
    parser.add_argument("--groups", action="store_true",
                        help="compare the groups of seeds the runs belong to (--sacred-seeds): "
                             "mean ± std (95 %% interval) per group, and the check stored "
                             "with each; the default when the runs named are of different "
                             "groups")


def _compare_groups(args: argparse.Namespace, ids: list[int]) -> int | None:
    """``compare`` of groups of seeds: one column per group of the runs named (first
    against itself, then the others against it), and each group's stored verdict.
    ``None`` when a run named is of no group and ``--groups`` was not asked for."""
    from .readers import NoSuchRun, RunFilter
    from .readers.table import group_members, group_token, reader_for

    reader, _ = reader_for(args.store)
    with reader:
        named = {r.id: r for r in reader.list_runs(RunFilter(ids=frozenset(ids)))}
        missing = [i for i in ids if i not in named]
        if missing:
            raise NoSuchRun(f"no run {', '.join(map(str, missing))} in {args.store} "
                            f"(`pytest-sacred ls {args.store}` lists the runs)")
        tokens = [group_token(named[i].meta) for i in ids]
        if not args.groups and (None in tokens or len(set(tokens)) < len(tokens)):
            return None  # runs of no group, or of one group: compared run by run
        groups = [group_members(reader, named[i]) for i in ids]
        summaries = reader.metric_summaries([r for g in groups for r in g])
    from .extras import MissingExtra
    from .stats import scipy_stats, spread

    try:
        scipy_stats()
        interval = True
    except MissingExtra as exc:
        interval = False
        print(f"(intervals left out: {exc})", file=sys.stderr)

    def values(group: list[Any], metric: str | None) -> list[float]:
        found = [r.result if metric is None else
                 getattr(summaries.get(r.id, {}).get(metric), "last", None) for r in group]
        return [float(v) for v in found if isinstance(v, (int, float))
                and not isinstance(v, bool) and math.isfinite(v)]

    metrics = sorted({name for g in groups for r in g for name in summaries.get(r.id, {})})
    cells = [["runs"] + [", ".join(str(r.id) for r in g) for g in groups]]
    for metric in [None, *metrics]:
        line = ["result" if metric is None else metric]
        first = values(groups[0], metric)
        for index, group in enumerate(groups):
            found = values(group, metric)
            text = spread(found, interval=interval).text() if found else ""
            if index and found and first:
                text += "  " + change(sum(first) / len(first), sum(found) / len(found))
            line.append(text)
        cells.append(line)
    _print_table([""] + [f"group of #{i} ({len(g)} runs)" for i, g in zip(ids, groups,
                                                                          strict=True)], cells)
    for i, group in zip(ids, groups, strict=True):
        verdict = next((r.info for r in group if isinstance(r.info.get("regression"), dict)),
                       None)
        if verdict is not None:
            print(f"group of #{i}:")
            print("\n".join(_verdict_lines(verdict)))
    return OK


def compare(args: argparse.Namespace) -> int:
    from .readers.table import columns_of

    ids = _ids(args.ids)
    if len(ids) < 2:
        raise UsageError("compare needs two or more run ids")
    grouped = _compare_groups(args, ids)
    if grouped is not None:
        return grouped
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
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="the runs to draw (default: every run the filters match)")
    _filter_arguments(parser)
    parser.add_argument("--metric", required=True, help="the metric to draw, e.g. train.loss")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png",
                        help="the image (any format matplotlib writes: .png, .svg, .pdf)")


#: more lines than this and the legend would hide them: it is left out (and said so)
LEGEND_LINES = 15


@dataclass
class MetricPlot:
    """:func:`metric_figure`'s answer: the figure (not yet saved) and what it left out."""

    figure: Any
    drawn: list[int]
    lacking: list[int]
    legend: bool


def metric_figure(store: str, metric: str, ids: Sequence[int] | None = None,
                  experiment: str | None = None, status: str | None = None,
                  where: str | None = None) -> MetricPlot:
    """One line per run of ``metric`` (the runs ``ids``, else every run the filters match,
    as ``ls`` would list them); steps that are all integers get integer ticks. Raises
    :class:`~pytest_sacred.readers.NoSuchRun` when a given id is missing or no run has
    the metric."""
    from .extras import require
    from .readers import NoSuchRun
    from .readers.table import reader_for, run_rows

    require("matplotlib", "analysis", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    reader, _ = reader_for(store)
    with reader:
        rows = run_rows(reader, experiment=experiment, status=status, where=where, ids=ids)
        filtered = experiment is not None or status is not None or where is not None
        if ids is not None and not filtered:
            missing = sorted(set(ids) - {row["id"] for row in rows})
            if missing:
                raise NoSuchRun(f"no run {', '.join(map(str, missing))} in {store} "
                                f"(`pytest-sacred ls {store}` lists the runs)")
        if not rows:
            raise NoSuchRun(f"no run in {store} matches"
                            + (f" (ids {', '.join(map(str, ids))})" if ids else ""))
        curves, lacking = {}, []
        for row in rows:
            try:
                curves[row["id"]] = reader.metric(row["id"], metric)
            except NoSuchRun:
                lacking.append(row["id"])
    chosen = ", ".join(str(row["id"]) for row in rows)
    if not curves:
        names = sorted({key[len("metrics."):-len(".last")] for row in rows for key in row
                        if key.startswith("metrics.") and key.endswith(".last")})
        raise NoSuchRun(f"no run of {chosen} has metric {metric!r} "
                        f"(they have: {', '.join(names) or 'no metrics'})")
    by_id = {row["id"]: row for row in rows}
    configs = [{k[len("config."):]: v for k, v in by_id[i].items() if k.startswith("config.")}
               for i in curves]
    differing = _differing_config(configs)
    experiments = sorted({str(by_id[i].get("experiment")) for i in curves})
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    styles = ("-", "--", "-.", ":")  # curves that coincide stay told apart
    for n, (i, points) in enumerate(curves.items()):
        label = " ".join([f"#{i}"] + ([str(by_id[i].get("experiment"))]
                                      if len(experiments) > 1 else [])
                         + [", ".join(f"{k}={cell(by_id[i].get('config.' + k), 20)}"
                                      for k in differing)])
        line, = axes.plot(points.steps, points.values, linestyle=styles[n % len(styles)],
                          marker="os^Dv<>"[n % 7] if len(points.steps) <= 50 else None,
                          markersize=4, label=label.strip())
        line.set_gid(f"run-{i}")  # an SVG names each run's line
    # a store Sacred wrote may hold steps that are not integers: those keep matplotlib's ticks
    steps = [step for points in curves.values() for step in points.steps]
    if all(float(step).is_integer() for step in steps):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if steps and min(steps) == max(steps):  # one step: a unit either side, not ±0.05
            axes.set_xlim(steps[0] - 1, steps[0] + 1)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} of {len(curves)} run{'s' if len(curves) != 1 else ''}"
                   f" ({', '.join(experiments)})")
    axes.grid(alpha=0.3)
    legend = len(curves) <= LEGEND_LINES
    if legend:
        axes.legend()
    figure.tight_layout()
    return MetricPlot(figure, list(curves), lacking, legend)


def plot(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"-o {args.output!r}: directory {str(out.parent)!r} does not exist")
    drawn = metric_figure(args.store, args.metric, _ids(args.ids) if args.ids else None,
                          experiment=args.experiment, status=args.status, where=args.where)
    if drawn.lacking:
        print(f"runs {', '.join(map(str, drawn.lacking))} have no metric {args.metric!r}: "
              "not drawn", file=sys.stderr)
    if not drawn.legend:
        print(f"{len(drawn.drawn)} runs drawn: too many lines for a legend (more than "
              f"{LEGEND_LINES}); narrow them with --where or ids to get one", file=sys.stderr)
    drawn.figure.savefig(out)
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
    """Runs a killed worker left (DIED?) or that failed go back in the queue, for the
    ``--sacred-run-queued`` workers to run again."""
    from .launchers.queued_runs import requeue_runs

    try:
        lines = requeue_runs(args.store, _ids(args.ids))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for line in lines:
        print(line)
    return OK


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("id", metavar="ID", help="the INTERRUPTED, TIMEOUT, FAILED or DIED? "
                        "run to continue")


def resume(args: argparse.Namespace) -> int:
    """The pytest command line that continues a stored run (``--sacred-resume``), to run
    from the rootdir it ran in."""
    import pytest

    from .resume import command

    try:
        print(command(args.store, _ids([args.id])[0]))
    except pytest.UsageError as exc:
        raise UsageError(str(exc)) from None
    return OK


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    from . import spill

    spill.arguments(parser)


def _replay(args: argparse.Namespace) -> int:
    from . import spill

    return spill.run(args)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from .report import command

    command.report_arguments(parser)


def _report(args: argparse.Namespace) -> int:
    from .report import command

    return command.report(args)


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    from .report import command

    command.serve_arguments(parser)


def _serve(args: argparse.Namespace) -> int:
    from .report import command

    return command.serve(args)


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
    Command("resume", "print the pytest command that continues a stopped run under its id "
            "(--sacred-resume)", _resume_arguments, resume),
    Command("replay", "write a spill file's events (runs/_spill/*.jsonl) into its store",
            _replay_arguments, _replay),
    Command("report", "one HTML page of runs (table, curves, each run whole) that opens "
            "offline", _report_arguments, _report),
    Command("serve", "the same page served live while runs are written (read-only, "
            "127.0.0.1 by default)", _serve_arguments, _serve),
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
    from .extras import as_missing_extra
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
    except ImportError as exc:  # an optional package, named with its extra; else a bug
        missing = as_missing_extra(exc)
        if missing is None:
            raise
        print(f"pytest-sacred {args.command}: {missing}", file=sys.stderr)
        return MISSING_PACKAGE
    except BrokenPipeError:  # `pytest-sacred ls … | head`
        return OK


if __name__ == "__main__":
    sys.exit(main())
