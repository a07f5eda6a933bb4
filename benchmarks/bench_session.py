"""The session's fixed cost: one experiment with one config entry, stored in a file store,
against the same test with ``-p no:sacred``.

The project is a git repository with a remote and a commit (as most projects are), so the
repository query (GitPython's import and its git commands) is part of what is measured; the
same project outside any repository shows the session without it. Each side is a fresh
``pytest`` process;
rounds are interleaved and the difference is taken within each round. A
``--sacred-unobserved`` side shows what is left without a store.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import harness
from harness import Stats, Variant, pytest_argv
from report import Row, Section, section_markdown

TARGET_S = 0.15  # the session start: <= 0.15 s more than -p no:sacred

PYTEST_INI = """\
[pytest]
markers =
    experiment(name=None): a pytest-sacred experiment (registered for -p no:sacred)
"""

TEST_ONE = """\
import pytest
from pytest_sacred import config


@config
def a():
    return 1


@pytest.mark.experiment("one")
def test_one(a):
    assert a == 1
"""


def _project(root: Path, git_repository: bool = True) -> Path:
    harness.write_files(root, {"pytest.ini": PYTEST_INI, "test_one.py": TEST_ONE})
    if not git_repository:
        return root
    git = ["git", "-C", str(root), "-c", "user.email=bench@example.com", "-c",
           "user.name=bench"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "one experiment"],
                 ["remote", "add", "origin", "https://example.com/bench.git"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return root


def run(repeats: int = 11) -> Section:
    section = Section(
        "Session start",
        f"One test of one experiment with one config entry, in a git repository, stored in "
        f"a file store, vs the same test with `-p no:sacred`: whole process wall time, "
        f"{repeats} interleaved rounds after a warm-up, difference taken within each round.")
    root = _project(harness.workdir("session"))
    store = harness.fresh_dir(root, "runs")
    no_git = _project(harness.workdir("session-nogit"), git_repository=False)
    no_git_store = harness.fresh_dir(no_git, "runs")
    try:
        variants = [
            Variant("plain pytest", pytest_argv("-p", "no:sacred", "test_one.py"), root),
            Variant("pytest-sacred file",
                    lambda n: pytest_argv("--sacred-file-storage", str(store(n)), "test_one.py"),
                    root),
            Variant("pytest-sacred unobserved",
                    pytest_argv("--sacred-unobserved", "test_one.py"), root),
            Variant("plain pytest, no repository",
                    pytest_argv("-p", "no:sacred", "test_one.py"), no_git),
            Variant("pytest-sacred file, no repository",
                    lambda n: pytest_argv("--sacred-file-storage", str(no_git_store(n)),
                                          "test_one.py"), no_git),
        ]
        res = harness.measure(variants, repeats)
        if not (store(repeats) / "1" / "run.json").is_file():
            section.notes.append("WARNING: the file store holds no run 1")
        plain, ours, bare, plain_no_git, ours_no_git = (res[v.name] for v in variants)
        no_git_delta = Stats.of(harness.paired(ours_no_git, plain_no_git,
                                               lambda o, p: o.wall - p.wall))
        no_git_cpu = Stats.of(harness.paired(ours_no_git, plain_no_git, lambda o, p: o.user
                                             + o.sys - p.user - p.sys))
        delta = Stats.of(harness.paired(ours, plain, lambda o, p: o.wall - p.wall))
        bare_delta = Stats.of(harness.paired(bare, plain, lambda o, p: o.wall - p.wall))
        cpu = Stats.of(harness.paired(ours, plain, lambda o, p: o.user + o.sys
                                      - p.user - p.sys))
        section.rows += [
            Row("one test, `-p no:sacred`", plain.stats(), "s"),
            Row("one experiment, file store", ours.stats(), "s",
                ratio=f"{harness.ratio(ours.stats(), plain.stats()):.2f}× plain"),
            Row("**session start: file store − `-p no:sacred`**", delta, "s",
                target=f"≤ {TARGET_S:.2f} s more than -p no:sacred",
                ratio=f"{delta.median / plain.stats().median:.3f} of plain",
                met=delta.median <= TARGET_S),
            Row("same, CPU (user + system) of the process", cpu, "s"),
            Row("`--sacred-unobserved` − `-p no:sacred`", bare_delta, "s",
                note="the plugin's own work without a store"),
            Row("session start outside a git repository: file store − `-p no:sacred`",
                no_git_delta, "s", target=f"≤ {TARGET_S:.2f} s more than -p no:sacred",
                met=no_git_delta.median <= TARGET_S,
                note="no repository: GitPython is not imported"),
            Row("same, CPU (user + system) of the process", no_git_cpu, "s"),
        ]
    finally:
        harness.remove(root)
        harness.remove(no_git)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    print(section_markdown(run(args.repeats)))


if __name__ == "__main__":
    main()
