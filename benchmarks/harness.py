"""Measuring: run named variants interleaved, each run in a fresh subprocess.

A *variant* is one command line (plus an untimed ``prepare`` step). ``measure`` runs every
variant once to warm the page cache, then ``repeats`` rounds; each round runs every
variant once, the order rotated from round to round so that no side always goes first.
For each run it keeps the wall time (process start to exit), the peak RSS (GNU time's
``%M``) and the CPU times ``os.wait4`` reports for exactly that child, and whatever the
child itself wrote as JSON lines to the file named by ``$BENCH_OUT`` (timings it took
inside, counts, ...).

Nothing here formats tables: see ``report.py``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: plugins installed on this machine that have nothing to do with the comparison
PYTEST_FLAGS = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark",
                "-p", "no:randomly", "-q"]
#: GNU time reports the peak RSS of the command alone. wait4's ru_maxrss would not: exec
#: records the high-water mark of the address space it replaces, which for a child spawned
#: by this (sometimes large) Python process is this process's own.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def pytest_argv(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", *PYTEST_FLAGS, *args]


@dataclass
class Variant:
    """One side of a comparison: a command, run in ``cwd``."""

    name: str
    #: the command, or a function of the round number (0 is the warm-up) giving it
    argv: Sequence[str] | Callable[[int], Sequence[str]]
    cwd: str | os.PathLike | None = None
    #: called before each run, untimed (e.g. to empty a store directory)
    prepare: Callable[[int], None] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def command(self, round_no: int) -> list[str]:
        return list(self.argv(round_no) if callable(self.argv) else self.argv)


@dataclass
class Sample:
    """One run of one variant."""

    wall: float  #: seconds from start to exit
    end: float  #: ``time.time()`` when the process had exited
    max_rss_kb: int  #: peak resident set size of the command (GNU time's %M)
    user: float
    sys: float
    inner: dict[str, Any]  #: what the child wrote to ``$BENCH_OUT``

    def get(self, key: str) -> Any:
        if key in ("wall", "max_rss_kb", "user", "sys"):
            return getattr(self, key)
        return self.inner[key]


@dataclass(frozen=True)
class Stats:
    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        values = list(values)
        if not values:
            raise ValueError("no values")
        return cls(min(values), statistics.median(values), max(values), len(values))

    def scaled(self, factor: float) -> Stats:
        """Every figure times ``factor`` (a negative factor swaps min and max)."""
        lo, hi = sorted((self.min * factor, self.max * factor))
        return Stats(lo, self.median * factor, hi, self.n)


@dataclass
class Result:
    """All timed runs of one variant, in round order."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    def values(self, key: str = "wall") -> list[float]:
        return [s.get(key) for s in self.samples]

    def stats(self, key: str = "wall") -> Stats:
        return Stats.of(self.values(key))


class BenchError(RuntimeError):
    pass


#: removed from the children's environment: they change what pytest loads, or (this
#: machine sets PYTHONDONTWRITEBYTECODE) make every process compile the editable
#: pytest_sacred sources again while installed packages such as Sacred have their .pyc
UNSET = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "COVERAGE_PROCESS_START",
         "PYTHONDONTWRITEBYTECODE")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured child: see ``UNSET``."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["PYTHONHASHSEED"] = "0"
    env.update(extra or {})
    return env


def run_once(variant: Variant, round_no: int, check: bool = True) -> Sample:
    """Run the variant once in a fresh process and measure it."""
    if variant.prepare is not None:
        variant.prepare(round_no)
    out_fd, out_path = tempfile.mkstemp(prefix="bench-out-", suffix=".jsonl")
    os.close(out_fd)
    rss_fd, rss_path = tempfile.mkstemp(prefix="bench-rss-")
    os.close(rss_fd)
    log = tempfile.TemporaryFile()
    env = clean_env({**variant.env, "BENCH_OUT": out_path})
    argv = variant.command(round_no)
    if GNU_TIME:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_path, *argv]
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=variant.cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        # wait4: this child's CPU times (RUSAGE_CHILDREN deltas would mix all children)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        end = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if check and proc.returncode != 0:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            raise BenchError(f"{variant.name}: {' '.join(argv)} exited with {proc.returncode}"
                             f" in {variant.cwd}:\n{tail}")
        inner: dict[str, Any] = {}
        with open(out_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    inner.update(json.loads(line))
        max_rss = usage.ru_maxrss
        if GNU_TIME:
            with open(rss_path, encoding="utf-8") as f:
                max_rss = int(f.read().split()[-1])
        return Sample(wall, end, max_rss, usage.ru_utime, usage.ru_stime, inner)
    finally:
        log.close()
        os.unlink(out_path)
        os.unlink(rss_path)


def measure(variants: Sequence[Variant], repeats: int, warmup: int = 1,
            log: Callable[[str], None] | None = None) -> dict[str, Result]:
    """Run the variants interleaved: ``warmup`` untimed rounds, then ``repeats`` rounds."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    results = {v.name: Result(v.name) for v in variants}
    for round_no in range(warmup + repeats):
        shift = round_no % len(variants)
        order = list(variants[shift:]) + list(variants[:shift])
        for variant in order:
            sample = run_once(variant, round_no)
            timed = round_no >= warmup
            log(f"  {'round ' + str(round_no - warmup + 1) if timed else 'warm-up'}: "
                f"{variant.name:<28} {sample.wall:8.3f} s  {sample.max_rss_kb / 1024:7.1f} MB")
            if timed:
                results[variant.name].samples.append(sample)
    return results


def paired(a: Result, b: Result, f: Callable[[Sample, Sample], float]) -> list[float]:
    """``f`` of the runs of ``a`` and ``b`` made in the same round."""
    if len(a.samples) != len(b.samples):
        raise ValueError(f"{a.name} and {b.name} ran a different number of rounds")
    return [f(x, y) for x, y in zip(a.samples, b.samples, strict=True)]


def ratio(a: Stats, b: Stats) -> float:
    """Median of ``a`` over median of ``b``."""
    return a.median / b.median if b.median else float("inf")


# -- helpers for the benchmark modules ------------------------------------------------------


def workdir(prefix: str) -> Path:
    """A fresh temporary directory, outside the repository."""
    return Path(tempfile.mkdtemp(prefix=f"pytest-sacred-bench-{prefix}-"))


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def fresh_dir(parent: Path, name: str) -> Callable[[int], Path]:
    """A directory per round, ``parent/name-<round>``, that no earlier run has used.

    Stores are not emptied between rounds, so that no timed run shares the disk with the
    deletion of the previous round's thousands of files; they go with the benchmark's
    temporary directory at the end.
    """
    return lambda round_no: parent / f"{name}-{round_no}"


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def load_tests_module(filename: str) -> Any:
    """A helper module of the test suite (``tests/<filename>``), which starts the servers
    the benchmarks share with the tests; the benchmarks do not run from the tests folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bench_tests_{Path(filename).stem}",
                                                  REPO / "tests" / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def pytest_has_option(option: str, cwd: Path) -> bool:
    """Whether ``pytest --help`` (with pytest-sacred loaded) lists ``option``."""
    out = subprocess.run(pytest_argv("--help"), cwd=cwd, env=clean_env(),
                         capture_output=True, text=True)
    return option in out.stdout


def sacred_version() -> str | None:
    out = subprocess.run([PYTHON, "-c", "import sacred; print(sacred.__version__)"],
                         env=clean_env(), capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


# -- the machine -----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "?"


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def _filesystem(path: str) -> str:
    out = subprocess.run(["df", "-T", path], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    return lines[1].split()[1] if len(lines) > 1 else "?"


def filesystem_costs(count: int = 400) -> dict[str, float]:
    """Microseconds per create+close of an empty file, mkdir, small write, rename, in the
    temporary directory the benchmarks use."""
    root = workdir("fs")
    try:
        costs = {}
        t = time.perf_counter()
        for i in range(count):
            os.close(os.open(root / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        costs["create file"] = (time.perf_counter() - t) / count * 1e6
        t = time.perf_counter()
        for i in range(count):
            os.mkdir(root / f"d{i}")
        costs["mkdir"] = (time.perf_counter() - t) / count * 1e6
        data = b"x" * 2048
        t = time.perf_counter()
        for i in range(count):
            with open(root / f"d{i}" / "run.json", "wb") as f:
                f.write(data)
        costs["open+write 2 KB+close (new file)"] = (time.perf_counter() - t) / count * 1e6
        fd = os.open(root / "rewritten", os.O_WRONLY | os.O_CREAT, 0o644)
        t = time.perf_counter()
        for _ in range(count):
            os.pwrite(fd, data, 0)
        costs["pwrite 2 KB in place"] = (time.perf_counter() - t) / count * 1e6
        os.close(fd)
        t = time.perf_counter()
        for i in range(count):
            os.replace(root / f"f{i}", root / f"d{i}" / "moved")
        costs["rename"] = (time.perf_counter() - t) / count * 1e6
        return costs
    finally:
        remove(root)


def machine_info() -> dict[str, str]:
    import pytest

    commit = _git("rev-parse", "--short=12", "HEAD") or "?"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _ram_gib(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "pytest": pytest.__version__,
        "Sacred": sacred_version() or "not installed",
        "pytest-sacred commit": commit,
        "temp filesystem": f"{tempfile.gettempdir()} ({_filesystem(tempfile.gettempdir())})",
        "host": socket.gethostname(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
