"""``--where`` / ``load_runs(where=...)``: a filter expression over a run table's columns.

``config.C > 1 and result >= 0.9``, ``status in ['COMPLETED', 'DIED?']``,
``not (experiment == 'svm')``, ``1 < config.C <= 8``, and names that are no Python names
in backticks: `` `metrics.train/loss.last` < 0.1 ``. The text is parsed with :mod:`ast`
and only comparisons, ``and``/``or``/``not``, constants, lists or tuples of constants and
(dotted) column names are accepted; nothing is evaluated as Python code.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

ALLOWED = ("comparisons (== != < <= > >= in, not in), 'and', 'or', 'not', parentheses, "
           "numbers, quoted strings, True/False/None, lists of constants, and column names "
           "(config.C, metrics.loss.last, `names with odd characters` in backticks)")

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
_BACKTICKS = re.compile(r"`([^`]*)`")


class WhereError(ValueError):
    """The expression is not one :func:`compile_where` accepts; the message says why."""


@dataclass(frozen=True)
class Where:
    """A compiled expression: call it with a row (column name → value)."""

    text: str
    names: frozenset[str]
    _test: Callable[[Mapping[str, Any]], Any]
    #: ``(column, op, constant)`` comparisons every matching row satisfies (the top-level
    #: ``and`` terms of the form ``column OP number-or-string``, op one of == < <= > >=):
    #: what a reader may hand to its store to read fewer runs; the rows are still checked
    necessary: tuple[tuple[str, str, Any], ...] = ()

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return bool(self._test(row))

    def check_columns(self, columns: set[str]) -> None:
        """Raise :class:`WhereError` for names that are no column of the table, with the
        columns close to the first of them and the table's columns (a metric's three as
        ``metrics.NAME.last/.min/.max``)."""
        unknown = sorted(self.names - columns)
        if unknown:
            from .updates import did_you_mean  # only when a name is wrong

            listed = _listed_columns(columns)
            shown = ", ".join(listed[:60]) + (", …" if len(listed) > 60 else "")
            raise WhereError(f"--where {self.text!r}: no column {', '.join(unknown)} in these "
                             f"runs{did_you_mean(unknown[0], columns)}; the columns are: "
                             f"{shown}")


def _listed_columns(columns: set[str]) -> list[str]:
    """``columns`` sorted, each metric's last/min/max columns as one entry."""
    summaries = (".last", ".min", ".max")
    grouped = {c[:-len(".last")] for c in columns if c.startswith("metrics.")
               and c.endswith(".last") and all(c[:-len(".last")] + s in columns
                                               for s in summaries)}
    return sorted({c for c in columns if not any(c.startswith(g + ".") for g in grouped)}
                  | {f"{g}.last/.min/.max" for g in grouped})


def compile_where(text: str) -> Where:
    """Parse ``text``; raises :class:`WhereError` naming the part that is not allowed."""
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        name = f"__col{len(quoted)}__"
        quoted[name] = match.group(1)
        return name

    source = _BACKTICKS.sub(placeholder, text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise WhereError(f"--where {text!r} does not parse ({exc.msg} at column "
                         f"{exc.offset}); allowed: {ALLOWED}") from None
    names: set[str] = set()
    compiler = _Compiler(text, quoted, names)
    test = compiler.build(tree.body)
    return Where(text, frozenset(names), test, tuple(compiler.necessary(tree.body)))


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
_SYMBOLS = {ast.Eq: "==", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


class _Compiler:
    def __init__(self, text: str, quoted: dict[str, str], names: set[str]) -> None:
        self.text, self.quoted, self.names = text, quoted, names

    def refuse(self, node: ast.AST, what: str) -> WhereError:
        part = ast.unparse(node)
        for placeholder, name in self.quoted.items():
            part = part.replace(placeholder, f"`{name}`")
        return WhereError(f"--where {self.text!r}: {what} {part!r} is not allowed; "
                          f"allowed: {ALLOWED}")

    def name_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.quoted.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.name_of(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def build(self, node: ast.AST) -> Callable[[Mapping[str, Any]], Any]:
        if isinstance(node, ast.BoolOp):
            parts = [self.build(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.build(node.operand)
            return lambda row: not inner(row)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)):
            value = self.value(node)  # a bare column: true when set and truthy
            return lambda row: bool(value(row))
        raise self.refuse(node, "the expression")

    def necessary(self, node: ast.AST) -> list[tuple[str, str, Any]]:
        """The simple comparisons of ``node``'s top-level ``and`` terms."""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            return [term for value in node.values for term in self.necessary(value)]
        if not isinstance(node, ast.Compare):
            return []
        terms = []
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            symbol = _SYMBOLS.get(type(op))
            if symbol is None:
                continue
            for column_side, constant_side, flip in ((left, right, False), (right, left, True)):
                name = self.name_of(column_side)
                constant = _plain_constant(constant_side)
                if name is not None and constant is not None:
                    terms.append((name, _FLIPPED[symbol] if flip else symbol, constant))
        return terms

    def compare(self, node: ast.Compare) -> Callable[[Mapping[str, Any]], Any]:
        operands = [self.value(node.left)] + [self.value(c) for c in node.comparators]
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise self.refuse(node, f"the operator {type(op).__name__} in")
            ops.append((_COMPARE[type(op)], isinstance(op, _EQUALITY)))

        def test(row: Mapping[str, Any]) -> bool:
            values = [operand(row) for operand in operands]
            for (op, equality), a, b in zip(ops, values, values[1:], strict=False):
                # a run without the column (None) or with NaN is never larger or smaller
                if not equality and (a is None or b is None or a != a or b != b):
                    return False
                try:
                    if not op(a, b):
                        return False
                except TypeError:  # e.g. a string compared with a number: not a match
                    return False
            return True

        return test

    def value(self, node: ast.AST) -> Callable[[Mapping[str, Any]], Any]:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str, bool, type(None))):
                raise self.refuse(node, "the constant")
            constant = node.value
            return lambda row: constant
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
                isinstance(node.operand, ast.Constant) and \
                isinstance(node.operand.value, (int, float)):
            negative = -node.operand.value
            return lambda row: negative
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(e) for e in node.elts]
            if not all(isinstance(e, (ast.Constant, ast.UnaryOp)) for e in node.elts):
                raise self.refuse(node, "a list of anything but constants")
            return lambda row: [item(row) for item in items]
        name = self.name_of(node)
        if name is None:
            raise self.refuse(node, "the part")
        self.names.add(name)
        return lambda row: row.get(name)


def _plain_constant(node: ast.AST) -> int | float | str | None:
    """A number (not a bool) or string constant, else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _plain_constant(node.operand)
        return -inner if isinstance(inner, (int, float)) else None
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str):
        return cast("int | float | str", node.value)
    return None
