"""File-store per-run overhead of this tree against a baseline tree, side by side.

The write queues sit between pluggy and every shipped observer (so that a store that
does not answer cannot stall the tests); the file store writes on the caller's thread
while its disk answers. This measures what that costs: the
500-variant sweep of ``bench_sweep.py`` with ``--sacred-file-storage``, run with this
tree's package and with the baseline's (``--baseline DIR``: a checkout or ``git archive``
of the commit to compare against), and plain pytest, interleaved round by round. Per-run
overhead = (t_sacred − t_plain) / 500 within each round; the ratio is this tree's over the
baseline's.

    git archive main | tar -x -C /tmp/base && python benchmarks/bench_queue.py --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import harness
from bench_sweep import VARIANTS, _project
from harness import Stats, Variant, pytest_argv


def run(baseline: Path, repeats: int) -> str:
    root = _project(harness.workdir("queue"))
    try:
        stores = {tag: harness.fresh_dir(root, f"runs-{tag}") for tag in ("base", "this")}
        trees = {"base": str(baseline.resolve()), "this": str(harness.REPO)}
        variants = [Variant("plain pytest", pytest_argv("-p", "no:sacred", "test_sweep.py"), root)]
        for tag, tree in trees.items():
            variants.append(Variant(
                f"file store, {tag}",
                lambda n, tag=tag: pytest_argv("--sacred-file-storage", str(stores[tag](n)),
                                               "test_sweep.py"),
                root, env={"PYTHONPATH": tree}))
        res = harness.measure(variants, repeats)
        plain = res["plain pytest"]
        overhead = {tag: Stats.of(harness.paired(
            res[f"file store, {tag}"], plain,
            lambda x, y: (x.wall - y.wall) / VARIANTS * 1000)) for tag in trees}
        # CPU time (user + sys of the child alone): less moved by other load on the machine
        cpu = {tag: Stats.of(harness.paired(
            res[f"file store, {tag}"], plain,
            lambda x, y: (x.user + x.sys - y.user - y.sys) / VARIANTS * 1000)) for tag in trees}
        ratios = Stats.of(harness.paired(res["file store, this"], res["file store, base"],
                                         lambda x, y: x.wall / y.wall))
        ratio = overhead["this"].median / overhead["base"].median
        return "\n".join([
            f"file-store per-run overhead, {VARIANTS}-variant sweep, {repeats} rounds:",
            f"  baseline ({baseline}): {overhead['base'].median:.3f} ms/run "
            f"(min {overhead['base'].min:.3f}, max {overhead['base'].max:.3f})",
            f"  this tree:            {overhead['this'].median:.3f} ms/run "
            f"(min {overhead['this'].min:.3f}, max {overhead['this'].max:.3f})",
            f"  ratio this / baseline (per-run overhead, medians): {ratio:.2f}x",
            f"  ratio of whole-session wall times, median of rounds: {ratios.median:.2f}x",
            f"  CPU time per run over plain pytest: baseline {cpu['base'].median:.3f} ms, "
            f"this tree {cpu['this'].median:.3f} ms, ratio "
            f"{cpu['this'].median / cpu['base'].median:.2f}x",
        ])
    finally:
        harness.remove(root)


def layer_cost(events: int = 200_000, repeats: int = 5) -> str:
    """In one process: one observer event through the write queue's inline path (a
    healthy local store) against the same hook called directly, on an observer whose hook
    does nothing, so that only the layer is timed (best of ``repeats``)."""
    import tempfile
    import time

    sys.path.insert(0, str(harness.REPO))
    from pytest_sacred.spill import SpillWriter
    from pytest_sacred.stores.base import Observer, queued
    from pytest_sacred.stores.write_queue import StoreQueue

    class Null(Observer):
        writes_inline = True

        @queued
        def pytest_sacred_heartbeat_event(self, run_id, info, captured_out, beat_time,
                                          result):
            pass

    observer = Null()

    def per_event() -> float:
        start = time.perf_counter()
        for _ in range(events):
            observer.pytest_sacred_heartbeat_event(1, {}, "", None, None)
        return (time.perf_counter() - start) / events * 1e6

    direct = min(per_event() for _ in range(repeats))
    with tempfile.TemporaryDirectory() as tmp:
        observer.queue = StoreQueue(observer, 120, SpillWriter(Path(tmp), "null", None),
                                    print, print, inline=True)
        through = min(per_event() for _ in range(repeats))
    return (f"write queue, inline path: {through:.2f} µs per event against {direct:.2f} µs "
            f"called directly: {through - direct:.2f} µs per event (a run of the sweep sends "
            "4 events: started, log_metrics, heartbeat, completed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path,
                        help="a tree holding the pytest_sacred package to compare against")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layer-only", action="store_true",
                        help="only the in-process cost of the queue layer (no --baseline)")
    args = parser.parse_args()
    print(layer_cost())
    if args.layer_only:
        return
    if args.baseline is None or not (args.baseline / "pytest_sacred").is_dir():
        sys.exit(f"--baseline {args.baseline}: no pytest_sacred package there")
    print(run(args.baseline, args.repeats))


if __name__ == "__main__":
    main()
