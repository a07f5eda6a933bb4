"""Run every benchmark and write ``benchmarks/RESULTS.md``.

    python benchmarks/run_all.py            # about 30-35 minutes on a 2-core machine,
                                            # and 15 more for bench_outage
    python benchmarks/run_all.py --quick    # one round each, to try the harness

Needs Sacred 0.8.7 (``pip install -e '.[bench]'``); the Mongo rows also need pymongo and
secantusdb (``.[test]``) and are skipped with a note otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import bench_db_stores
import bench_import
import bench_load_runs
import bench_metrics
import bench_outage
import bench_stores
import bench_sweep
import bench_xdist
import harness
import profile_hot
from report import machine_markdown, section_markdown, summary_markdown

OUT = Path(__file__).resolve().parent / "RESULTS.md"

#: rounds per benchmark (after one warm-up round each), chosen to stay under 35 minutes.
#: The per-store rows of bench_sweep (Mongo, S3/GCS) and bench_db_stores (PostgreSQL,
#: MariaDB) are in bench_stores' table now, so their own groups are off (0) here.
FULL = {
    "sweep": dict(repeats=5, mongo_repeats=0, cloud_repeats=0),
    "stores": dict(repeats=2),
    "session": dict(repeats=11),
    "mongo_roundtrips": dict(repeats=3),
    "metrics": dict(repeats=3, big_repeats=3),
    "import": dict(repeats=11, suite_repeats=5),
    "xdist": dict(repeats=3),
    "load_runs": dict(runs=10_000, repeats=3),
    "db_stores": dict(repeats=2, server_repeats=0),
    #: 3 rounds x 7 stores x 2 sweeps of ~18 s, and a for-good session per store: ~15 min
    "outage": dict(repeats=3),
}
QUICK = {
    "sweep": dict(repeats=1, mongo_repeats=0, cloud_repeats=0),
    "stores": dict(repeats=1),
    "session": dict(repeats=1),
    "mongo_roundtrips": dict(repeats=1),
    "metrics": dict(repeats=1, big_repeats=1),
    "import": dict(repeats=2, suite_repeats=1),
    "xdist": dict(repeats=1),
    "load_runs": dict(runs=2_000, repeats=1),
    "db_stores": dict(repeats=1, server_repeats=0),
    "outage": dict(repeats=1),
}
#: modules written on other branches: run when present (``run(**plan[key])`` -> Section)
OPTIONAL = {"session": "bench_session", "mongo_roundtrips": "bench_mongo_roundtrips"}


def _modules() -> dict[str, Any]:
    """The benchmark modules in the order they run; optional ones when importable."""
    modules: dict[str, Any] = {"sweep": bench_sweep, "stores": bench_stores}
    for key, name in OPTIONAL.items():
        if importlib.util.find_spec(name) is not None:
            module = importlib.import_module(name)
            if hasattr(module, "run"):
                modules[key] = module
    modules.update({"metrics": bench_metrics, "import": bench_import, "xdist": bench_xdist,
                    "load_runs": bench_load_runs, "db_stores": bench_db_stores,
                    "outage": bench_outage})
    return modules


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark; write RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="one round each (not for RESULTS)")
    parser.add_argument("--output", type=Path, default=OUT)
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile appendix")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if harness.sacred_version() is None:
        sys.exit("Sacred is not installed: pip install -e '.[bench]'")

    started = time.perf_counter()
    machine = harness.machine_info()
    fs = harness.filesystem_costs()
    modules = _modules()
    missing = [OPTIONAL[k] for k in OPTIONAL if k not in modules]
    if missing:
        print(f"note: not run (not on this branch yet): {', '.join(missing)}", file=sys.stderr)
    sections = []
    for key, module in modules.items():
        print(f"== {key} {plan[key]}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        section = module.run(**plan[key])
        section.notes.append(f"Rounds: {plan[key]}; took {time.perf_counter() - t:.0f} s.")
        sections.append(section)
        print(section_markdown(section), flush=True)
    if not args.no_profile:
        print("== profile", file=sys.stderr, flush=True)
        sections.append(profile_hot.run())
    elapsed = time.perf_counter() - started

    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    text = "\n\n".join([
        "# pytest-sacred benchmarks",
        f"Written by `{command}` in {elapsed / 60:.1f} min. Every measured command ran in a "
        "fresh process, the sides interleaved round by round after an untimed warm-up "
        "round; inner pytest runs use `" + " ".join(harness.PYTEST_FLAGS) + "` on both sides "
        "and run in temporary directories. Figures are min / median / max over the rounds "
        "(n); ratios compare medians unless the row says otherwise. Other processes may have "
        "run on the machine at the same time: compare rows of one table, measured side by "
        "side, rather than figures across runs.",
        machine_markdown(machine, fs),
        "## Targets\n\n" + summary_markdown(sections),
        *[section_markdown(s) for s in sections],
    ])
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({elapsed / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
