"""This tree against a baseline tree, interleaved in one run: the file store's and
``--sacred-unobserved``'s per-run overhead (``bench_sweep.py``'s sweep, 500 and 200
variants, with Sacred's ``FileStorageObserver`` per ``ex.run`` in the same rounds) and
``log_scalar``'s calls/s (``bench_metrics.py``'s loops, with Sacred's).

    git -C /work/main archive HEAD | tar -x -C /tmp/base
    python benchmarks/bench_baseline.py --baseline /tmp/base --repeats 7

Wall-clock overheads move with the machine's load (the file store's with the disk's);
the CPU rows (user + system time of the child, over plain pytest's) move less.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import bench_metrics
import bench_sweep
import harness
from harness import PYTHON, Stats, Variant, pytest_argv

SMALL = 200


def sweep(trees: dict[str, str], repeats: int) -> list[str]:
    root = bench_sweep._project(harness.workdir("baseline-sweep"))
    try:
        small = {"BENCH_VARIANTS": str(SMALL)}
        sacred = harness.fresh_dir(root, "sacred-runs")
        variants = [
            Variant("plain", pytest_argv("-p", "no:sacred", "test_sweep.py"), root),
            Variant("plain small", pytest_argv("-p", "no:sacred", "test_sweep.py"), root,
                    env=small),
            Variant("Sacred file", lambda n: [PYTHON, "sacred_loop.py", "file", "200",
                                              str(sacred(n))], root)]
        for tag, tree in trees.items():
            big, little = harness.fresh_dir(root, f"runs-{tag}"), harness.fresh_dir(
                root, f"runs-small-{tag}")
            variants += [
                Variant(f"file {tag}", lambda n, s=big: pytest_argv(
                    "--sacred-file-storage", str(s(n)), "test_sweep.py"), root,
                    env={"PYTHONPATH": tree}),
                Variant(f"file small {tag}", lambda n, s=little: pytest_argv(
                    "--sacred-file-storage", str(s(n)), "test_sweep.py"), root,
                    env={"PYTHONPATH": tree, **small}),
                Variant(f"unobserved {tag}", pytest_argv("--sacred-unobserved",
                                                         "test_sweep.py"), root,
                        env={"PYTHONPATH": tree})]
        res = harness.measure(variants, repeats)
        s_file = res["Sacred file"].stats("ms_per_run").median

        def per_run(a: str, b: str, n: int, cpu: bool = False) -> float:
            return Stats.of(harness.paired(res[a], res[b], lambda x, y: (
                (x.user + x.sys - y.user - y.sys) if cpu else (x.wall - y.wall)) / n * 1000)
            ).median

        lines = [f"Sacred FileStorageObserver: {s_file:.2f} ms per ex.run (median)"]
        n = bench_sweep.VARIANTS
        for tag in trees:
            big = per_run(f"file {tag}", "plain", n)
            little = per_run(f"file small {tag}", "plain small", SMALL)
            cpu = per_run(f"file {tag}", "plain", n, cpu=True)
            bare = per_run(f"unobserved {tag}", "plain", n)
            bare_cpu = per_run(f"unobserved {tag}", "plain", n, cpu=True)
            lines.append(
                f"{tag}: file store {big:.3f} ms/run = {big / s_file:.3f} of Sacred's ({n} "
                f"variants), {little:.3f} ms/run = {little / s_file:.3f} ({SMALL}); CPU "
                f"{cpu:.3f} ms/run; --sacred-unobserved {bare:.3f} ms/run (CPU {bare_cpu:.3f})")
        return lines
    finally:
        harness.remove(root)


def metrics(trees: dict[str, str], repeats: int) -> list[str]:
    root = bench_metrics._project(harness.workdir("baseline-metrics"))
    try:
        variants = [bench_metrics._sacred(root, "Sacred", bench_metrics.CALLS)]
        for tag, tree in trees.items():
            fixture = bench_metrics._ours(root, f"session {tag}", bench_metrics.CALLS)
            fixture.env["PYTHONPATH"] = tree
            variants += [fixture, Variant(f"bare Run {tag}", [PYTHON, "bare_run.py",
                                                              str(bench_metrics.CALLS)],
                                          root, env={"PYTHONPATH": tree})]
        res = harness.measure(variants, repeats)
        keys = ("calls_per_s", "cpu_calls_per_s")
        wall, cpu = (res["Sacred"].stats(k).median for k in keys)
        lines = [f"Sacred log_scalar: {wall / 1e3:.0f} k calls/s (per CPU second "
                 f"{cpu / 1e3:.0f} k)"]
        for v in variants[1:]:
            w, c = (res[v.name].stats(k).median for k in keys)
            lines.append(f"{v.name}: {w / 1e6:.2f} M calls/s = {w / wall:.2f}x Sacred; per CPU "
                         f"second {c / 1e6:.2f} M = {c / cpu:.2f}x")
        return lines
    finally:
        harness.remove(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="a tree holding the pytest_sacred package to compare against")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if not (args.baseline / "pytest_sacred").is_dir():
        sys.exit(f"--baseline {args.baseline}: no pytest_sacred package there")
    trees = {"baseline": str(args.baseline.resolve()), "this": str(harness.REPO)}
    print(f"load average before: {os.getloadavg()}")
    print("\n".join(sweep(trees, args.repeats) + metrics(trees, args.repeats)))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
