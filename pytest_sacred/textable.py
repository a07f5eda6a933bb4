"""Plain-text tables: columns padded to their widest cell, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence


def aligned_lines(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    """The header line then one line per row, trailing spaces removed."""
    widths = [max(len(h), *(len(line[i]) for line in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
            for line in [list(headers), *cells]]
