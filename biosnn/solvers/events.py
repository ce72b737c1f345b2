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
* :func:`bernstein`, :func:`split_bernstein`, :func:`first_upcrossing` - adaptive: every
  upward crossing inside an accepted step, found on the step's dense output before it is
  located (see "Crossings inside a step" below).

Crossings inside a step (adaptive and stiff methods, both backends)
-------------------------------------------------------------------
A spike is an upward crossing anywhere inside an accepted step, not only one whose end
point is above the threshold: an excursion above the threshold that starts and ends
inside one step is a spike (two excursions are two spikes).  How the drivers find them:

* **Affine crossing** (``crossing = sum_i c_i*y_i + d``, ``c``, ``d`` free of the states
  and of ``t``: :attr:`KernelSpec.crossing_affine`; every threshold of the model library),
  unless a linear stimulus drives a parameter it depends on.  Along the dense output
  ``y(theta) = y0 + sum_s w_s(theta) K_s`` (a polynomial of degree ``q`` in ``theta``)
  the crossing is the polynomial ``P(theta) = g(y0) + sum_s w_s(theta) sigma_s`` with
  ``sigma_s = g(K_s) - g(0)`` (exact for an affine ``g``).  Its Bernstein coefficients on
  ``[0, 1]`` (end coefficients replaced by ``g`` at the step's two end states, so the end
  points agree with the threshold booleans) are searched left to right by bisection
  (de Casteljau) with Descartes' rule of signs (:func:`first_upcrossing`): an interval
  whose coefficients change sign once holds exactly one root.  This finds **every**
  excursion of the dense output above the threshold, however narrow (to the event
  tolerance in width), and isolates the first upward root in a bracket, where
  :func:`locate_root` (Illinois) locates it on the interpolant.  Before the Bernstein
  search a screen skips steps that cannot hold a crossing: with ``Wb_s`` the largest
  ``|Bernstein coefficient|`` of the weight ``w_s`` (a bound of ``|w_s|`` on [0, 1]),
  ``|P - g(y0)| <= sum_s Wb_s |sigma_s|``.  Cost of a step far from the threshold: one
  evaluation of ``g`` per stage and three more, ``2*s`` multiply-adds.  NumPy backend,
  one instance (or one left) with constant coefficients: the screen runs on Python
  floats with no kernel call, ``g`` at the step's ends rebuilt as ``c.y + g(0)`` and
  its bounds widened by ``1e-12*(|g(0)| + sum_i (|y0_i| + |y1_i|)*(|c_i| + |g(0)|))``
  for the rounding of that rebuild; a step it does not skip takes the array path.
* **DOP853** needs three extra stages for its interpolant, computed (as before) only when
  the interpolant is used.  The screen there: with ``H`` the cubic Hermite interpolant of
  ``g`` (values at the ends, slopes ``sigma_0`` and ``sigma_11``, both at c = 0 and 1),
  ``P - H = sum_s w_s (sigma_s - H'(c_s))`` exactly (the weights integrate quadratics
  exactly), so ``|P - H| <= sum_s Wb_s |e_s|`` with ``e_s = sigma_s - H'(c_s)``.  For the
  twelve stages computed the ``e_s`` are known; for the three extra stages the screen
  takes ``|e_s| <= 2*max(known |e_s|)`` - the one assumption behind the guarantee: a
  step the error control accepted in which the crossing's rate of change at those three
  points departs from the cubic fit by more than twice as much as at the other twelve
  stages, and only by that produces an excursion, would be missed.  Steps that pass the
  screen get the extra stages and the exact search (the HH benchmark of
  docs/benchmarks.md: 0.6% more right-hand sides).
* **Other thresholds** (a crossing that is not affine, a compound condition, a linear
  stimulus on a parameter of an affine crossing): the condition is sampled on the dense
  output at ``theta = i/8``, ``i = 0..8``; an upward change between two samples is
  located there.  Excursions wider than ``h/8`` are always found; narrower ones only if
  they contain a sample.
* After a spike with reset statements the step ends at the spike (see
  docs/architecture.md).  Without, the search resumes after the crossing: further
  excursions in the same step are further spikes, except while the instance is
  refractory (time-based: until ``t_s + refractory_time``; condition-based: for the rest
  of the step).

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
    "bernstein",
    "crossing_time_linear",
    "event_tolerance",
    "first_upcrossing",
    "locate_boolean",
    "locate_root",
    "split_bernstein",
]

#: Equally spaced samples per step (``theta = i/N_SAMPLES``) for thresholds that are not
#: affine crossings.
N_SAMPLES = 8

#: Bisection depth limit of :func:`first_upcrossing` (intervals of width 2**-50).
MAX_DEPTH = 50


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


def locate_root(
    fun: Callable, a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray, max_iter: int = 200
) -> np.ndarray:
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
        c = np.where(
            denom > 0, bb - fbb * (bb - aa) / np.where(denom > 0, denom, 1.0), 0.5 * (aa + bb)
        )
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


def locate_boolean(fun: Callable, a: np.ndarray, b: np.ndarray, max_iter: int = 200) -> np.ndarray:
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


def bernstein(mono) -> list:
    """Bernstein coefficients on [0, 1] of ``sum_j mono[j] * theta**j`` (degree q).

    ``b_i = sum_{j <= i} C(i, j)/C(q, j) * mono[j]``, the ratio updated as
    ``r <- r*(i - j)/(q - j)`` (the C driver computes it the same way).  Works on floats
    or on NumPy arrays (one column per instance).
    """
    q = len(mono) - 1
    out = []
    for i in range(q + 1):
        acc, r = 0.0, 1.0
        for j in range(i + 1):
            acc = acc + r * mono[j]
            if j < i:
                r = r * (i - j) / (q - j)
        out.append(acc)
    return out


def split_bernstein(c, tau: float) -> tuple[list, list]:
    """De Casteljau: Bernstein coefficients of the same polynomial on [0, tau] and
    [tau, 1] (of the interval ``c`` is given on, rescaled).
    """
    w = list(c)
    q = len(w) - 1
    left, right = [0.0] * (q + 1), [0.0] * (q + 1)
    left[0], right[q] = w[0], w[q]
    for r in range(1, q + 1):
        for i in range(q + 1 - r):
            w[i] = (1.0 - tau) * w[i] + tau * w[i + 1]
        left[r], right[q - r] = w[0], w[q - r]
    return left, right


def first_upcrossing(c, lo: float, hi: float, armed: bool, tol: float):
    """Bracket of the first upward crossing of a polynomial, or None.

    Parameters
    ----------
    c : sequence of float
        Bernstein coefficients of ``P`` on ``[lo, hi]``.
    lo, hi : float
        The interval (in the step's ``theta``).
    armed : bool
        Whether ``P`` counts as having been <= 0 before ``lo`` (the threshold was false at
        the start).  Otherwise an upward crossing needs ``P <= 0`` first.
    tol : float
        Intervals this short (or at depth :data:`MAX_DEPTH`) are not split further.

    Returns
    -------
    (a, b) or None
        ``P(a) <= 0 < P(b)`` with exactly one root of ``P`` in ``[a, b]``, the first
        upward one after ``lo`` (up to ``tol``); ``a == b`` when ``armed`` and ``P > 0``
        right from ``lo`` (a spike at ``lo``).

    Notes
    -----
    Left-first bisection of ``[lo, hi]`` (de Casteljau at the midpoint).  An interval
    whose coefficients are all <= 0 has ``P <= 0`` (convex hull); all > 0, ``P > 0``; one
    sign change between consecutive coefficients, exactly one root (Descartes' rule of
    signs for the Bernstein basis); more, it is split.  The C drivers run the same
    algorithm (``bs_first_up`` in :mod:`biosnn.codegen.c_backend`).
    """
    q = len(c) - 1
    stack = [(lo, hi, list(c), 0)]
    while stack:
        a, b, w, depth = stack.pop()
        pos = [x > 0.0 for x in w]
        if pos[0] and armed:  # only at lo: above at once after being below
            return a, a
        changes = sum(1 for i in range(q) if pos[i] != pos[i + 1])
        if changes == 0:
            if not pos[0]:
                armed = True
            continue
        if changes == 1:
            if not pos[0]:
                return a, b
            armed = True
            continue
        if b - a <= tol or depth >= MAX_DEPTH:
            if not pos[0]:
                armed = True
            if pos[q] and armed:
                return a, b
            if not pos[q]:
                armed = True
            continue
        left, right = split_bernstein(w, 0.5)
        m = 0.5 * (a + b)
        stack.append((m, b, right, depth + 1))
        stack.append((a, m, left, depth + 1))
    return None
