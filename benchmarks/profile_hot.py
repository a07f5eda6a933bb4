"""Where pytest-sacred's time goes: cProfile of the sweep, the 1 M-point run and the
ordinary suite, each against the same session without the plugin where that applies.

cProfile makes Python-level calls several times dearer and leaves system calls as they
are, so read the shares, not the absolute figures. Run alone:
``python benchmarks/profile_hot.py``.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
from pathlib import Path

import bench_import
import bench_metrics
import bench_sweep
import harness
from harness import PYTEST_FLAGS, PYTHON
from report import Section, markdown_table, number, section_markdown

#: built-ins that are system calls on files, summed to show the kernel's share
FILE_CALLS = ("posix.open", "posix.mkdir", "io.open", "posix.pwrite", "posix.ftruncate",
              "posix.close", "posix.replace", "posix.rename", "posix.stat", "posix.scandir",
              "posix.write", "posix.lstat", "posix.unlink")


def _profile(cwd: Path, *args: str, env: dict[str, str] | None = None) -> pstats.Stats:
    out = cwd / f"profile-{abs(hash(args))}.prof"
    subprocess.run([PYTHON, "-m", "cProfile", "-o", str(out), "-m", "pytest", *PYTEST_FLAGS,
                    *args], cwd=cwd, env=harness.clean_env(env), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return pstats.Stats(str(out))


def _ours(stats: pstats.Stats) -> list[tuple[str, int, float, float]]:
    """(name, calls, own s, cumulative s) of pytest_sacred's functions."""
    rows = []
    for (path, line, func), (_, calls, own, cum, _) in stats.stats.items():
        if "/pytest_sacred/" in path:
            module = path.split("/pytest_sacred/", 1)[1].removesuffix(".py").replace("/", ".")
            rows.append((f"{module}.{func}:{line}", calls, own, cum))
    return rows


def _builtins(stats: pstats.Stats) -> dict[str, tuple[int, float]]:
    found = {}
    for (path, _, func), (_, calls, own, _, _) in stats.stats.items():
        for name in FILE_CALLS:
            if path == "~" and f"method {name}>" in func:
                c, t = found.get(name, (0, 0.0))
                found[name] = (c + calls, t + own)
    return found


def _total(stats: pstats.Stats) -> float:
    return stats.total_tt


def _functions_table(stats: pstats.Stats, per: int, unit: str, top: int = 15,
                     key: int = 3) -> str:
    rows = sorted(_ours(stats), key=lambda r: -r[key])[:top]
    return markdown_table(
        ["pytest_sacred function", "calls", "own", "cumulative", f"cumulative per {unit}"],
        [[f"`{name}`", f"{calls:,}", number(own * 1000, "ms"), number(cum * 1000, "ms"),
          number(cum * 1e6 / per, "µs")] for name, calls, own, cum in rows])


def _syscalls_table(ours: pstats.Stats, plain: pstats.Stats | None, per: int, unit: str) -> str:
    a, b = _builtins(ours), _builtins(plain) if plain else {}
    lines = []
    for name in sorted(a, key=lambda n: -a[n][1]):
        calls, t = a[name]
        pc, pt = b.get(name, (0, 0.0))
        extra_calls, extra_t = calls - pc, t - pt
        if extra_calls <= 0 and extra_t <= 0.001:
            continue
        lines.append([f"`{name}`", f"{extra_calls:,}", number(extra_t * 1000, "ms"),
                      number(extra_t / extra_calls * 1e6, "µs") if extra_calls > 0 else "",
                      number(extra_t * 1e6 / per, "µs")])
    return markdown_table(["file system call", "extra calls", "extra time", "per call",
                           f"per {unit}"], lines)


def sweep(root: Path, section: Section) -> None:
    bench_sweep._project(root)
    ours = _profile(root, "--sacred-file-storage", str(root / "store"), "test_sweep.py")
    unobserved = _profile(root, "--sacred-unobserved", "test_sweep.py")
    plain = _profile(root, "-p", "no:sacred", "test_sweep.py")
    n = bench_sweep.VARIANTS
    section.details.append(
        f"**Sweep of {n} variants, file store** (under cProfile: plugin with file store "
        f"{number(_total(ours), 's')}, `--sacred-unobserved` {number(_total(unobserved), 's')}, "
        f"`-p no:sacred` {number(_total(plain), 's')}, i.e. "
        f"{number((_total(ours) - _total(plain)) * 1000 / n, 'ms')}/run). File-system calls "
        f"beyond plain pytest's (their time is the kernel's, which cProfile does not inflate):"
        f"\n\n" + _syscalls_table(ours, plain, n, "run")
        + "\n\nTop pytest_sacred functions by cumulative time:\n\n"
        + _functions_table(ours, n, "run"))


def metrics(root: Path, section: Section) -> None:
    bench_metrics._project(root)
    points = bench_metrics.SIZES["1 M"]
    ours = _profile(root / "metrics", "--sacred-file-storage", str(root / "store"),
                    "test_metrics.py", env={"BENCH_POINTS": str(points),
                                            "BENCH_OUT": str(root / "out.jsonl")})
    section.details.append(
        f"**1 M points, file store** (under cProfile: {number(_total(ours), 's')} in all). "
        f"Top pytest_sacred functions by own time, then by cumulative time:\n\n"
        + _functions_table(ours, points, "point", top=10, key=2) + "\n\n"
        + _functions_table(ours, points, "point", top=10) + "\n\nBuilt-ins by own time:\n\n"
        + _top_builtins(ours))


def _top_builtins(stats: pstats.Stats, top: int = 8) -> str:
    rows = [(func, calls, own) for (path, _, func), (_, calls, own, _, _) in stats.stats.items()
            if path == "~"]
    rows.sort(key=lambda r: -r[2])
    return markdown_table(["built-in", "calls", "own"],
                          [[f"`{f}`", f"{c:,}", number(t * 1000, "ms")] for f, c, t in rows[:top]])


def ordinary(root: Path, section: Section) -> None:
    n = bench_import.MODULES * bench_import.TESTS_PER_MODULE
    body = "\n\n".join(f"def test_{i}():\n    pass" for i in range(bench_import.TESTS_PER_MODULE))
    harness.write_files(root, {"pytest.ini": "[pytest]\n", **{
        f"test_m{m}.py": body + "\n" for m in range(bench_import.MODULES)}})
    ours = _profile(root)
    plain = _profile(root, "-p", "no:sacred")
    section.details.append(
        f"**{n} ordinary tests** (under cProfile: plugin {number(_total(ours), 's')}, "
        f"`-p no:sacred` {number(_total(plain), 's')}). Top pytest_sacred functions:\n\n"
        + _functions_table(ours, n, "test", top=12))


def run() -> Section:
    section = Section("Where the time goes (cProfile)",
                      "One profiled session each; cProfile inflates Python calls, not "
                      "system calls, so compare shares.")
    for name, step in (("sweep", sweep), ("metrics", metrics), ("ordinary", ordinary)):
        root = harness.workdir(f"profile-{name}")
        try:
            step(root, section)
        finally:
            harness.remove(root)
    return section


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(section_markdown(run()))


if __name__ == "__main__":
    main()
