"""The ``report`` and ``serve`` subcommands of ``pytest-sacred`` (see :mod:`pytest_sacred.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import OK, UsageError, _filter_arguments, _ids, _store_argument
from . import Selection


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    _store_argument(parser)
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="only these runs (default: every run the filters keep)")
    _filter_arguments(parser)
    parser.add_argument("--points", metavar="N|all",
                        help="points each curve keeps for display (default: a report shares "
                             "300 000 points among its curves, 100 to 4 000 each; serve "
                             "keeps 4 000); 'all' keeps every stored point")


def _points(value: str | None) -> int | None:
    """``--points``: ``None`` (the default), 0 for all, or a count of at least 4."""
    if value is None:
        return None
    if value == "all":
        return 0
    if not value.isdigit() or int(value) < 4:
        raise UsageError(f"--points {value!r}: give a number of points (4 or more) or 'all'")
    return int(value)


def _selection(args: argparse.Namespace) -> Selection:
    ids = _ids(args.ids)
    return Selection(experiment=args.experiment, status=args.status, where=args.where,
                     ids=frozenset(ids) if ids else None)


def report_arguments(parser: argparse.ArgumentParser) -> None:
    _selection_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html",
                        help="the page to write: one file that opens offline")


def report(args: argparse.Namespace) -> int:
    from ..readers.table import reader_for
    from . import write_report

    out = Path(args.output)
    if not out.parent.is_dir():
        raise UsageError(f"-o {args.output!r}: directory {str(out.parent)!r} does not exist")
    points = _points(args.points)
    selection = _selection(args)
    reader, _ = reader_for(args.store)
    with reader:
        count = write_report(reader, out, selection, points)
    print(f"wrote {count} run{'s' if count != 1 else ''} to {out} "
          f"({out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return OK


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    _selection_arguments(parser)
    parser.add_argument("--port", type=int, default=8765,
                        help="the port (default 8765; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine "
                             "only; 0.0.0.0 lets every machine that reaches this one read "
                             "the store)")


def serve(args: argparse.Namespace) -> int:
    from .serve import RunsApp
    from .serve import serve as run_server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: give a port from 0 to 65535")
    points = _points(args.points)
    selection = _selection(args)
    app = RunsApp(args.store, selection, points)
    try:
        return run_server(app, args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
                         " (another port: --port N, or --port 0 for any free one)") from None
