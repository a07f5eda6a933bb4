"""The manual's code is run: every code block of docs/ marked runnable.

A runnable block is a MyST ``code-block`` with ``:class: runnable`` and its file name as
``:caption:``. The blocks of one page are written, in order, into one pytester directory;
each test module (``test_*.py``) then runs there in a pytest session of its own and must
pass. So a page can show a ``conftest.py`` and the tests that use it, as a user would
write them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

BLOCK = re.compile(r"```\{code-block\} python\n((?::[\w-]+:[^\n]*\n)+)\n(.*?)\n```", re.S)


def runnable_blocks(text: str) -> list[tuple[str, str]]:
    """``(file name, code)`` of each runnable block of a page, in order."""
    blocks = []
    for options, code in BLOCK.findall(text):
        fields = dict(re.findall(r":([\w-]+):\s*(.*)", options))
        if "runnable" in fields.get("class", "").split():
            assert "caption" in fields, f"a runnable block needs its file name as :caption:\n{code}"
            blocks.append((fields["caption"].strip(), code + "\n"))
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts
               and runnable_blocks(p.read_text()))


def test_the_manual_has_runnable_blocks() -> None:
    """The pattern finds the blocks (a changed directive syntax would silently skip them)."""
    marked = sum(len(re.findall(r"^:class:[^\n]*\brunnable\b", p.read_text(), re.M))
                 for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    found = sum(len(runnable_blocks(p.read_text())) for p in PAGES)
    assert marked == found >= 4


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_runnable_blocks_pass(pytester: pytest.Pytester, page: Path) -> None:
    modules = []
    for name, code in runnable_blocks(page.read_text()):
        (pytester.path / name).write_text(code)
        if Path(name).name.startswith("test_"):
            modules.append(name)
    assert modules, f"{page.name}: runnable blocks but no test module among them"
    for module in modules:
        result = pytester.runpytest_subprocess(module, "-p", "no:cacheprovider")
        outcomes = result.parseoutcomes()
        assert result.ret == 0 and outcomes.get("passed", 0) >= 1, (
            f"{page.name}: {module}\n" + "\n".join(result.outlines))
