"""Validation helpers for the frozen option, morph, material and surface dataclasses.

Each helper returns the value normalised (tuples of float) or raises :class:`InvalidValueError`
naming ``owner.field``, so messages read like ``Box.size: every entry must be > 0, got (0.1, -1, 0.1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from physim.errors import InvalidValueError


def _fail(owner: str, field: str, why: str, value: object) -> InvalidValueError:
    return InvalidValueError(f"{owner}.{field}: {why}, got {value!r}")


def finite_scalar(owner: str, field: str, value: object, *, low: float | None = None,
                  high: float | None = None, low_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _fail(owner, field, "must be a real number", value) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise _fail(owner, field, "must be a finite real number", value)
    if low is not None and (number <= low if low_open else number < low):
        raise _fail(owner, field, f"must be {'>' if low_open else '>='} {low}", value)
    if high is not None and number > high:
        raise _fail(owner, field, f"must be <= {high}", value)
    return number


def integer(owner: str, field: str, value: object, *, low: int = 0, high: int | None = None) -> int:
    """A whole number (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(owner, field, "must be an integer", value)
    if value < low or (high is not None and value > high):
        raise _fail(owner, field, f"must lie in [{low}, {high if high is not None else 'inf'}]", value)
    return int(value)


def positive(owner: str, field: str, value: object) -> float:
    """A finite number > 0."""
    return finite_scalar(owner, field, value, low=0.0, low_open=True)


def finite_vector(owner: str, field: str, value: object, size: int) -> tuple[float, ...]:
    """A sequence of ``size`` finite numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(owner, field, f"must be {size} real numbers", value) from None
    if array.shape != (size,):
        raise _fail(owner, field, f"must be {size} real numbers", value)
    if not np.all(np.isfinite(array)):
        raise _fail(owner, field, "must be finite (no NaN or inf)", value)
    return tuple(float(x) for x in array)


def positive_vector(owner: str, field: str, value: object, size: int) -> tuple[float, ...]:
    """A sequence of ``size`` finite numbers, each > 0."""
    vector = finite_vector(owner, field, value, size)
    if any(x <= 0 for x in vector):
        raise _fail(owner, field, "every entry must be > 0", value)
    return vector


def unit_interval_vector(owner: str, field: str, value: object, sizes: Sequence[int]) -> tuple[float, ...]:
    """A colour-like sequence whose length is one of ``sizes`` and whose entries lie in [0, 1]."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(owner, field, "must be a sequence of numbers in [0, 1]", value) from None
    if array.ndim != 1 or array.shape[0] not in sizes:
        raise _fail(owner, field, f"must have {' or '.join(map(str, sizes))} entries", value)
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise _fail(owner, field, "entries must lie in [0, 1]", value)
    return tuple(float(x) for x in array)


def one_of(owner: str, field: str, value: object, choices: Sequence[object]) -> object:
    """One of a fixed set of values."""
    if value not in choices:
        raise _fail(owner, field, f"must be one of {list(choices)}", value)
    return value


def domain_bounds(owner: str, lower_bound, upper_bound) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A solver domain's walls: two finite 3-vectors, the upper one above the lower on every axis, m."""
    lower = finite_vector(owner, "lower_bound", lower_bound, 3)
    upper = finite_vector(owner, "upper_bound", upper_bound, 3)
    if any(hi <= lo for lo, hi in zip(lower, upper)):
        raise InvalidValueError(f"{owner}.upper_bound: must exceed lower_bound on every axis, got "
                                f"lower_bound={lower_bound!r}, upper_bound={upper_bound!r}")
    return lower, upper
