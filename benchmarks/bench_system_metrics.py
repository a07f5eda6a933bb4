"""What ``--sacred-system-metrics`` costs, against its budget: 2 % of one core at the
default heartbeat (10 s), i.e. 200 ms of CPU per sample.

Two measurements, both in CPU time (so that other load on the machine does not count):

* **sampler**: ``SystemSampler.sample()`` alone, timed with ``time.thread_time()`` over
  many samples, for this process alone and with child processes (the tree is walked at
  each sample);
* **session**: a run that sleeps ``--sleep`` seconds at ``--sacred-heartbeat=0.1`` in a
  real pytest session with the file store, with and without the option. The test body
  reads ``time.process_time()`` (every thread of the process: the heartbeat thread's
  sampling, the metrics' drain and the store's writes) around its sleep; the difference
  over the number of beats is the whole cost of one sample, stored.

    python benchmarks/bench_system_metrics.py [--samples 500] [--sleep 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HEARTBEAT = 10.0
BUDGET = 0.02  # of one core, at the default heartbeat

BODY = textwrap.dedent("""
    import json, os, time
    import pytest

    @pytest.mark.experiment
    def test_idle():
        start = time.process_time()
        time.sleep({sleep})
        with open(os.environ["BENCH_OUT"], "a") as out:
            out.write(json.dumps({{"cpu_s": time.process_time() - start}}) + "\\n")
""")


def sampler_cost(samples: int, children: int) -> float:
    """CPU seconds per sample, with ``children`` idle child processes in the tree."""
    sys.path.insert(0, str(REPO))
    from pytest_sacred.sysmetrics import SystemSampler

    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            for _ in range(children)]
    try:
        sampler = SystemSampler()
        sampler.start()
        start = time.thread_time()
        for _ in range(samples):
            sampler.sample()
        return (time.thread_time() - start) / samples
    finally:
        for kid in kids:
            kid.kill()
            kid.wait()


def session_cpu(root: Path, sleep: float, system: bool) -> float:
    """CPU seconds of the whole process while its run slept ``sleep`` s at 0.1 s beats."""
    out = root / "out.jsonl"
    out.unlink(missing_ok=True)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--sacred-heartbeat=0.1", f"--sacred-file-storage={root / 'runs'}", "test_idle.py"]
    if system:
        args.append("--sacred-system-metrics")
    env = {**os.environ, "BENCH_OUT": str(out), "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pytest failed:\n{done.stdout}\n{done.stderr}")
    return float(json.loads(out.read_text().splitlines()[-1])["cpu_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--sleep", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    print("## --sacred-system-metrics: sampling cost\n")
    print(f"Budget: {BUDGET:.0%} of one core at the default heartbeat ({DEFAULT_HEARTBEAT:g} s) "
          f"= {BUDGET * DEFAULT_HEARTBEAT * 1000:.0f} ms of CPU per sample.\n")
    print("| measurement | CPU per sample | share of one core at 10 s | at 1 s |")
    print("| --- | --- | --- | --- |")
    for children in (0, 8):
        cost = sampler_cost(args.samples, children)
        print(f"| sampler alone, {children} child processes ({args.samples} samples) | "
              f"{cost * 1000:.2f} ms | {cost / DEFAULT_HEARTBEAT:.3%} | {cost / 1.0:.2%} |")

    with tempfile.TemporaryDirectory(prefix="bench-sysmetrics-") as tmp:
        root = Path(tmp)
        (root / "test_idle.py").write_text(BODY.format(sleep=args.sleep))
        beats = args.sleep / 0.1
        extra = []
        for _ in range(args.rounds):  # interleaved, so that drifts hit both alike
            without = session_cpu(root, args.sleep, False)
            with_option = session_cpu(root, args.sleep, True)
            extra.append((with_option - without) / beats)
        cost = statistics.median(extra)
        print(f"| session, file store, {beats:.0f} beats, median of {args.rounds} rounds "
              f"(each: {', '.join(f'{e * 1000:.2f}' for e in extra)} ms) | {cost * 1000:.2f} ms "
              f"| {cost / DEFAULT_HEARTBEAT:.3%} | {cost / 1.0:.2%} |")


if __name__ == "__main__":
    main()
