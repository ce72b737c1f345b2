"""Threshold crossings, resets and refractoriness on the NumPy side (vectorized).

The solver semantics are those of docs/architecture.md ("Solver semantics"); this module
holds the small pieces the drivers compose:

* :class:`SpikeLog` - spikes as (instance, time), returned sorted by instance then time.
* :class:`Refractory` - per-instance refractory state: ``until`` (time-based: the end of
  the period, ``-inf`` when not refractory) or ``active`` (condition-based).
* :func:`crossing_time_linear` - fixed step: the zero of the crossing function by linear
  interpolation between the step's end points.
* :func:`locate_root` - adaptive: the zero of the crossing function on the step's
  interpolant by the Illinois method (a safeguarded regula falsi, bracketed), vectorized
  over instances, to ``|dt| <= 1e-12*max(1, |t|)``.
* :func:`locate_boolean` - adaptive, compound conditions: bisection of the boolean to the
  same tolerance (the first time it is true).

Refractoriness, as implemented (both backends)
----------------------------------------------
* Time-based: a spike at ``t_s`` makes the instance refractory until
  ``t_s + refractory_time`` (evaluated at the spike, after the reset).  Fixed step: the
  step ``[t_n, t_n + dt]`` is refractory if ``t_n + dt/2 < until``.  Adaptive: a step is
  refractory if it starts before ``until`` (``until`` is a breakpoint, so no step straddles
  it).
* Condition-based: at the end of a step in which the instance spiked it becomes refractory
  (after the reset); at every step end a refractory instance stays refractory only while
  the condition holds there (so it is checked at once, on the reset state).  A step is
  refractory if the instance is refractory at its start.
* In a refractory step: no spike is registered, and the states flagged ``(unless
  refractory)`` are held (their drift and noise are zero).  The threshold condition is
  still tracked, so the first spike after refractoriness needs a new upward crossing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "Refractory",
    "SpikeLog",
    "crossing_time_linear",
    "event_tolerance",
    "locate_boolean",
    "locate_root",
]


def event_tolerance(t) -> np.ndarray:
    """Tolerance of event location at time(s) ``t``: ``1e-12*max(1, |t|)``."""
    return 1e-12 * np.maximum(1.0, np.abs(t))


class SpikeLog:
    """Spikes collected during a run."""

    def __init__(self):
        self._index: list[np.ndarray] = []
        self._time: list[np.ndarray] = []

    def add(self, index, time) -> None:
        """Add spikes of instances ``index`` at times ``time`` (arrays of equal length)."""
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if index.size:
            self._index.append(index)
            self._time.append(np.broadcast_to(np.asarray(time, float), index.shape).copy())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(spike_index, spike_time) sorted by instance, then time."""
        if not self._index:
            return np.zeros(0, np.int64), np.zeros(0)
        idx = np.concatenate(self._index)
        tim = np.concatenate(self._time)
        order = np.lexsort((tim, idx))
        return idx[order], tim[order]


class Refractory:
    """Refractory state of ``n`` instances (see the module docstring).

    Parameters
    ----------
    kind : {None, "time", "condition"}
    n : int
    """

    def __init__(self, kind, n: int):
        self.kind = kind
        self.until = np.full(n, -np.inf)
        self.active = np.zeros(n, bool)

    @property
    def enabled(self) -> bool:
        return self.kind is not None

    def fixed_step_mask(self, t: float, dt: float):
        """Refractory instances for the fixed step [t, t+dt] (or None if disabled)."""
        if self.kind == "time":
            return t + 0.5 * dt < self.until
        if self.kind == "condition":
            return self.active.copy()
        return None

    def adaptive_mask(self, t: np.ndarray, idx=slice(None)):
        """Refractory instances for steps starting at ``t`` (instances ``idx``)."""
        if self.kind == "time":
            return t < self.until[idx] - event_tolerance(t)
        if self.kind == "condition":
            return self.active[idx].copy()
        return None

    def start(self, idx: np.ndarray, t_spike: np.ndarray, period: np.ndarray) -> None:
        """Instances ``idx`` spiked at ``t_spike``; ``period`` is their refractory time."""
        if self.kind == "time":
            self.until[idx] = t_spike + period
        elif self.kind == "condition":
            self.active[idx] = True

    def check_condition(self, idx, holds: np.ndarray) -> None:
        """Condition-based: instances ``idx`` stay refractory only where ``holds``."""
        if self.kind == "condition":
            self.active[idx] &= holds


def crossing_time_linear(t0: float, dt: float, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Zero of the line through (t0, c0) and (t0+dt, c1), clipped to the step."""
    denom = c0 - c1
    safe = np.where(denom != 0, denom, 1.0)
    frac = np.where(denom != 0, c0 / safe, 1.0)
    return t0 + dt * np.clip(frac, 0.0, 1.0)


def locate_root(fun: Callable, a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray,
                max_iter: int = 200) -> np.ndarray:
    """Upward zero of ``fun`` in ``[a, b]`` with ``fa <= 0 < fb``, per instance.

    ``fun(tau, sel)`` evaluates the function at times ``tau`` for the instances ``sel``
    (indices into the arrays given here).  Illinois method (Dowell & Jarratt 1971):
    regula falsi that halves the function value of an endpoint retained twice, with a
    bisection step whenever the interpolated point leaves the bracket.  Stops when the
    bracket is shorter than :func:`event_tolerance`.  Returns the time where the function
    first becomes positive (the right end of the final bracket).
    """
    a, b = np.array(a, float), np.array(b, float)
    fa, fb = np.array(fa, float), np.array(fb, float)
    side = np.zeros(a.shape, np.int8)
    for _ in range(max_iter):
        open_ = (b - a) > event_tolerance(b)
        if not open_.any():
            break
        sel = np.nonzero(open_)[0]
        aa, bb, faa, fbb = a[sel], b[sel], fa[sel], fb[sel]
        denom = fbb - faa
        c = np.where(denom > 0, bb - fbb * (bb - aa) / np.where(denom > 0, denom, 1.0),
                     0.5 * (aa + bb))
        bad = ~((c > aa) & (c < bb))
        c = np.where(bad, 0.5 * (aa + bb), c)
        fc = fun(c, sel)
        up = fc > 0
        # replace b
        ib = sel[up]
        b[ib], fb[ib] = c[up], fc[up]
        halve_a = ib[side[ib] == -1]
        fa[halve_a] *= 0.5
        side[ib] = -1
        # replace a
        ia = sel[~up]
        a[ia], fa[ia] = c[~up], fc[~up]
        halve_b = ia[side[ia] == 1]
        fb[halve_b] *= 0.5
        side[ia] = 1
    return b


def locate_boolean(fun: Callable, a: np.ndarray, b: np.ndarray,
                   max_iter: int = 200) -> np.ndarray:
    """First time in ``[a, b]`` where the boolean ``fun`` becomes true (false at a, true at b).

    ``fun(tau, sel) -> bool array``; bisection to :func:`event_tolerance`.
    """
    a, b = np.array(a, float), np.array(b, float)
    for _ in range(max_iter):
        open_ = (b - a) > event_tolerance(b)
        if not open_.any():
            break
        sel = np.nonzero(open_)[0]
        mid = 0.5 * (a[sel] + b[sel])
        val = np.asarray(fun(mid, sel), bool)
        b[sel[val]] = mid[val]
        a[sel[~val]] = mid[~val]
    return b
