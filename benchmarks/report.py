"""Rendering: results as Markdown. Nothing here measures (see ``harness.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import Stats


@dataclass
class Row:
    """One line of a benchmark's table."""

    what: str
    stats: Stats | None  #: min/median/max over the rounds (None: not measured)
    unit: str
    ratio: str = ""  #: against the baseline the section names
    target: str = ""
    met: bool | None = None  #: None: no target, or not measured
    note: str = ""


@dataclass
class Section:
    """What one benchmark module reports."""

    title: str
    intro: str
    rows: list[Row] = field(default_factory=list)
    #: further Markdown blocks (detail tables, profiles), printed after the main table
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[Row]:
        return [r for r in self.rows if r.target]


def number(value: float, unit: str = "") -> str:
    """A figure with three significant digits or so, and its unit."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def times(value: float) -> str:
    return f"{value:.2f}×" if value < 100 else f"{value:.0f}×"


def markdown_table(headers: list[str], lines: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def _met(value: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: ""}[value]


def rows_table(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if r.stats is None:
            cells = ["—", "—", "—"]
        else:
            cells = [number(r.stats.min, r.unit), number(r.stats.median, r.unit),
                     number(r.stats.max, r.unit)]
        n = "" if r.stats is None else str(r.stats.n)
        lines.append([r.what, *cells, n, r.ratio, r.target, _met(r.met), r.note])
    return markdown_table(["measure", "min", "median", "max", "n", "ratio", "target", "met",
                           "note"], lines)


def section_markdown(section: Section, level: int = 2) -> str:
    parts = [f"{'#' * level} {section.title}", section.intro,
             rows_table(section.rows) if section.rows else ""]
    parts += section.details
    if section.notes:
        parts.append("\n".join(f"- {n}" for n in section.notes))
    return "\n\n".join(p for p in parts if p) + "\n"


def machine_markdown(info: dict[str, str], fs_costs: dict[str, float] | None = None) -> str:
    text = markdown_table(["machine", ""], [[k, v] for k, v in info.items()])
    if fs_costs:
        text += "\n\nFilesystem costs in the temporary directory (µs per call, mean of 400):\n\n"
        text += markdown_table(["operation", "µs"],
                               [[k, number(v)] for k, v in fs_costs.items()])
    return text


def summary_markdown(sections: list[Section]) -> str:
    lines = []
    for s in sections:
        for r in s.targets:
            lines.append([s.title, r.what, r.ratio, r.target, _met(r.met) or "not measured"])
    return markdown_table(["benchmark", "measure", "measured", "target", "met"], lines)
