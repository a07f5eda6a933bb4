"""Scalars logged by a run, held until the next heartbeat delivers them.

``log_scalar`` is on the hot path (millions of calls): for a plain ``int`` or ``float`` it
makes two identity tests of the type and appends to three lists (the time is
``time.time_ns()``: the drain makes no float arithmetic of it), nothing else, not even
the default step (``None`` until drained). Any other value is checked at the call, so a
value no store can keep fails where it was logged, naming the metric, instead of failing
a later heartbeat and costing the run's other points. A drain converts what it takes to
Sacred's payload (steps, and :class:`~.timestamps.Timestamps` that make datetimes only for
a store that asks) with C-level bulk operations, never point by point in Python.

No lock: the logging thread appends the timestamp last, so a series holds as many complete
points as it has timestamps. A drain copies that many from the front of each list and then
deletes them (``del list[:n]`` is one step under the GIL), so a point being logged at that
moment stays behind, whole, for the next drain. Drains never overlap: the runner holds the
run's lock.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from time import time_ns
from typing import Any, Protocol, cast

from .timestamps import Timestamps

#: values stored as they are; anything else goes through :func:`metric_value`
_PLAIN_NUMBERS = frozenset((int, float))
#: how to convert the other number types met so far (numpy's scalar types, bool...): one
#: dict lookup instead of the checks of :func:`metric_value` on every call
_CONVERTERS: dict[type, Callable[[Any], int | float]] = {}


class _Series:
    __slots__ = ("steps", "values", "times")

    def __init__(self) -> None:
        self.steps: list[int | None] = []
        self.values: list[int | float] = []
        self.times: list[int] = []  # time.time_ns(): as cheap to append as time.time()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def metric_value(name: str, value: Any) -> int | float:
    """``value`` as the plain ``int`` or ``float`` a store keeps, or a ``TypeError``.

    Accepted: real numbers (``int``, ``float`` with NaN and ±inf as in Sacred,
    ``fractions.Fraction``, ``decimal.Decimal``), ``bool`` (stored as 0/1), and numpy
    scalars or 0-d arrays of those. Refused: ``None``, every ``str`` (even ``"1.5"``: a
    metric is a number; convert with ``float()``), complex numbers, lists and arrays, and
    a number with no float (a signalling ``Decimal("sNaN")``, a ``Fraction`` beyond the
    float range): every refusal is the same ``TypeError``, naming the metric.
    """
    __tracebackhide__ = True
    kind = type(value)
    if kind in _PLAIN_NUMBERS:
        plain_number: int | float = value
        return plain_number
    convert = _CONVERTERS.get(kind)
    if convert is not None:
        return _converted(name, value, convert, value)
    plain = value
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        plain = value.item()  # a numpy (or torch...) scalar or 0-d array: its Python value
    convert = None
    if isinstance(plain, numbers.Integral):  # bool too: 0/1
        convert = int
    elif isinstance(plain, numbers.Real) or type(plain).__name__ == "Decimal":
        convert = float
    if convert is not None:
        if not hasattr(value, "__len__"):  # a scalar type (np.float32, bool, Fraction...):
            _CONVERTERS[kind] = convert    # not arrays, whose next one may have another shape
        return _converted(name, value, convert, plain)
    raise TypeError(
        f"log_scalar({name!r}, {_short(value)}): a metric value must be a real number, got "
        f"{type(value).__name__}; pass an int or float (NaN and ±inf are allowed) or a numpy "
        f"scalar" + ("; convert text with float()" if isinstance(value, str) else ""))


def _converted(name: str, value: Any, convert: Callable[[Any], int | float],
               plain: Any) -> int | float:
    """``convert(plain)``; a number that has no such value (``float(Decimal("sNaN"))``
    raises ``ValueError``, a huge ``Fraction`` ``OverflowError``) is refused as every other
    bad value is, naming the metric."""
    __tracebackhide__ = True
    try:
        return convert(plain)
    except (ValueError, ArithmeticError) as exc:
        raise TypeError(
            f"log_scalar({name!r}, {_short(value)}): a metric value must be a real number a "
            f"store can keep as {convert.__name__}, and this {type(value).__name__} has none "
            f"({exc}); pass an int or float (NaN and ±inf are allowed)") from None


def metric_name(name: Any) -> str:
    """``name`` as a plain ``str`` (``numpy.str_`` and other subclasses too), else a
    ``TypeError``: the stores key metrics by name (a JSON key, a MongoDB field, an SQL
    column), and readers expect text."""
    __tracebackhide__ = True
    if isinstance(name, str):
        return str.__str__(name)  # the exact str of a subclass: what every encoder takes
    raise TypeError(f"log_scalar({_short(name)}, ...): a metric name must be a str, got "
                    f"{type(name).__name__}; name the metric with text, e.g. 'train.loss'"
                    ) from None  # raised while the buffer's KeyError is handled: not a cause


def metric_step(name: str, step: Any) -> int:
    """``step`` as an ``int``, or a ``TypeError`` naming the metric."""
    __tracebackhide__ = True
    if type(step) is int:
        return step
    try:
        if isinstance(step, bool):
            raise TypeError
        return operator.index(step)  # numpy integers too
    except TypeError:
        raise TypeError(f"log_scalar({name!r}, ..., step={_short(step)}): a step must be an "
                        f"integer, got {type(step).__name__}; pass an int (or a numpy "
                        f"integer), or leave it out for the previous step + 1") from None


class SeriesOwner(Protocol):
    """What :func:`log_point` needs of the object it is a method of: the series by name."""

    _series: dict[str, _Series]


def log_point(self: SeriesOwner, name: str, value: Any, step: int | None = None,
              _time: Callable[[], int] = time_ns, _float: type[float] = float,
              _int: type[int] = int) -> None:
    """Record ``value`` of metric ``name``; ``step`` defaults to the previous one + 1.

    Raises ``TypeError`` for a name that is not a ``str``, a value that is not a real
    number (see :func:`metric_value`) or a step that is not an integer; nothing is
    recorded then.

    A function of its own, not only :meth:`MetricsBuffer.log`, so that the user's
    :class:`~.run.Run` can have it as its ``log_scalar`` method over the same series:
    ``run.log_scalar(...)`` is then an ordinary method call, which the interpreter
    specialises. A bound method kept in an instance attribute is looked up the generic way
    on every call (CPython caches no method call on such an attribute): 6 % of the call's
    instructions in a bare loop, and up to a fifth of its time inside a pytest session.
    """
    __tracebackhide__ = True
    kind = type(value)  # two identity tests: cheaper than a set lookup
    if kind is not _float and kind is not _int:
        value = metric_value(name, value)
    if step is not None and type(step) is not _int:
        step = metric_step(name, step)
    try:
        series = self._series[name]
    except (KeyError, TypeError):  # a new name (checked once), or one that is no key
        series = self._series[metric_name(name)] = _Series()
    series.steps.append(step)
    series.values.append(value)
    series.times.append(_time())


class MetricsBuffer:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._next_step: dict[str, int] = {}
        #: each metric's last value drained so far (its final value once the run ended)
        self.finals: dict[str, Any] = {}
        #: a resumed run's last stored step of each metric: points at or before it are not
        #: delivered again (see :meth:`continue_after`)
        self._stored_through: dict[str, int] = {}
        #: metrics that had such points, not said yet (the runner warns, once per metric)
        self.repeated: list[str] = []
        self._said: set[str] = set()

    def continue_after(self, last_steps: dict[str, int]) -> None:
        """A resumed run: each metric's default steps go on after its last stored step, and
        points logged at a step at or before it are dropped (they are stored already)."""
        self._stored_through = dict(last_steps)
        for name, step in last_steps.items():
            self._next_step[name] = step + 1

    def _unstored(self, name: str, steps: list[int], values: list[Any],
                  times: list[int]) -> tuple[list[int], list[Any], list[int]]:
        """The points after the stored ones of a resumed run's metric ``name``."""
        through = self._stored_through[name]
        keep = [i for i, step in enumerate(steps) if step > through]
        if len(keep) == len(steps):
            return steps, values, times
        if name not in self._said:
            self._said.add(name)
            self.repeated.append(name)
        return ([steps[i] for i in keep], [values[i] for i in keep], [times[i] for i in keep])

    log = log_point

    @property
    def series(self) -> dict[str, _Series]:
        """The points not drained yet, by metric: what another owner of :func:`log_point`
        (the user's :class:`~.run.Run`) logs into, so that this buffer drains them."""
        return self._series

    def _steps(self, name: str, steps: list[int | None]) -> list[int]:
        """Fill in default steps: the previous step + 1, starting at 0."""
        step = self._next_step.get(name, 0)
        defaults = steps.count(None)
        if defaults == len(steps):
            steps = list(range(step, step + len(steps)))
        elif defaults:
            for i, given in enumerate(steps):
                step = steps[i] = step if given is None else given
                step += 1
        filled = cast("list[int]", steps)  # every None was replaced above
        self._next_step[name] = filled[-1] + 1
        return filled

    def drain(self, lazy: bool = False) -> dict[str, dict[str, Any]]:
        """Everything logged since the last drain, as Sacred's ``metrics_by_name``; the
        timestamps as :class:`~.timestamps.Timestamps` when ``lazy``, else datetimes."""
        drained: dict[str, dict[str, Any]] = {}
        for name, series in list(self._series.items()):
            count = len(series.times)  # complete points only: the time is appended last
            if not count:
                continue
            taken: list[list[Any]] = []
            for points in (series.steps, series.values, series.times):
                taken.append(points[:count])
                del points[:count]
            steps, values, times = taken
            steps = self._steps(name, steps)
            if name in self._stored_through:
                steps, values, times = self._unstored(name, steps, values, times)
                if not steps:
                    continue
            stamps: Sequence[datetime] = Timestamps(times)
            if not lazy:
                stamps = Timestamps(times).datetimes()
            self.finals[name] = values[-1]
            drained[name] = {"name": name, "steps": steps,
                             "values": values, "timestamps": stamps}  # values: log() checked
        return drained
