"""The run's captured output: read from pytest's capture, folded as a terminal shows it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def fold(text: str) -> str:
    """Apply carriage returns and backspaces the way a terminal displays them.

    A progress bar that rewrites its line with ``\\r`` a thousand times is stored as the
    line it finally showed, not as a thousand copies.
    """
    if "\r" not in text and "\b" not in text:
        return text
    return "\n".join(_fold_line(line) for line in text.split("\n"))


def _fold_line(line: str) -> str:
    if "\b" not in line:
        shown = ""
        for segment in line.split("\r"):
            shown = segment + shown[len(segment):]
        return shown
    cells: list[str] = []
    column = 0
    for char in line:
        if char == "\r":
            column = 0
        elif char == "\b":
            column = max(column - 1, 0)
        else:
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
    return "".join(cells)


def _read_capture(capture: Any) -> str:
    tmpfile = capture.tmpfile
    if hasattr(tmpfile, "getvalue"):  # --capture=sys
        return str(tmpfile.getvalue())
    fd = tmpfile.buffer.fileno()  # --capture=fd: pread leaves pytest's file offset alone
    return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")


def peek(config: Any) -> tuple[str, str] | None:
    """Output captured so far in the current test phase, without consuming it.

    Reads pytest's global capture (:func:`~pytest_sacred.compat.global_capture`); returns
    ``None`` when there is none (``-s``) or it cannot be read.
    """
    from .compat import global_capture

    try:
        capturing = global_capture(config)
        if capturing is None or (capturing.out is None and capturing.err is None):  # -s
            return None
        return (
            _read_capture(capturing.out) if capturing.out is not None else "",
            _read_capture(capturing.err) if capturing.err is not None else "",
        )
    except Exception:  # noqa: BLE001 - live output is a nicety: never fail a beat for it
        return None


#: a captured-output filter: the text to store, or ``None`` for the default (:func:`fold`)
OutputFilter = Callable[[str], "str | None"]


def combine(sections: list[tuple[str, str, str]], live: tuple[str, str] | None = None,
            out_filter: OutputFilter | None = None) -> str:
    """stdout then stderr of the run's setup and call phases, through ``out_filter`` when
    it returns text, else folded."""
    out = [text for when, key, text in sections if key == "stdout" and when in ("setup", "call")]
    err = [text for when, key, text in sections if key == "stderr" and when in ("setup", "call")]
    if live is not None:
        out.append(live[0])
        err.append(live[1])
    text = "".join(out) + "".join(err)
    if out_filter is not None:
        filtered = out_filter(text)
        if filtered is not None:
            if not isinstance(filtered, str):
                raise TypeError(f"the captured-output filter returned {type(filtered).__name__}; "
                                "pytest_sacred_captured_out_filter must return the text to "
                                "store (a str), or None for the default")
            return filtered
    return fold(text)


def hook_filter(config: Any) -> OutputFilter:
    """The ``pytest_sacred_captured_out_filter`` implementations of ``config``'s plugins and
    conftests, as a filter for :func:`combine`."""
    hook = config.hook.pytest_sacred_captured_out_filter
    return lambda text: hook(text=text)
