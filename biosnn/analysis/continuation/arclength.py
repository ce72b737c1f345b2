"""Pseudo-arclength continuation of equilibria in scaled coordinates.

:class:`_Branch` (``f(y, lam) = 0`` scaled, with the exact Jacobian; its points
:class:`_Point` carry the tangent, eigenvalues and test functions), the bordered Newton
corrector (:func:`newton_bordered`, :func:`unit_tangent`, :func:`_solve`, shared with
:mod:`biosnn.analysis.codim2`), the Hopf test function and the location of zeros of test
functions on the arclength (:func:`_illinois`, :func:`_locate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.equilibria import (
    sorted_eigenvalues,
)


@dataclass
class _Point:
    """A corrected point: x (scaled), tangent, and what tests and results need."""

    x: np.ndarray
    tangent: np.ndarray
    jac: np.ndarray  # internal units, n x n
    eigenvalues: np.ndarray
    tests: dict
    special: str | None = None


class _Branch:
    """``G(x) = f(y, lam)`` with ``x = (y / sy, (lam - lam0) / sl)``."""

    def __init__(self, system: System, param: str, lam0: float, lam_scale: float, y_scale):
        self.system, self.param = system, param
        self.k = system.index(param)
        self.lam0, self.sl = lam0, lam_scale
        self.sy = np.asarray(y_scale, dtype=float)
        self.n = system.n

    def unpack(self, x):
        y = (x[:-1] * self.sy).reshape(-1, 1)
        lam = self.lam0 + self.sl * x[-1]
        p = self.system.p.copy()
        p[self.k] = lam
        return y, lam, p

    def pack(self, y, lam):
        return np.append(np.ravel(y) / self.sy, (lam - self.lam0) / self.sl)

    def G(self, x) -> np.ndarray:
        y, _, p = self.unpack(x)
        return self.system.f(y, p)[:, 0]

    def jacobians(self, x):
        """(G_x (n, n+1), J internal (n, n))."""
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        fp = self.system.dfdp(y, self.param, p)[:, 0]
        gx = np.hstack([jac * self.sy[None, :], (fp * self.sl)[:, None]])
        return gx, jac

    def tangent(self, gx, previous) -> np.ndarray:
        return unit_tangent(gx, previous)

    def correct(self, xp, t, tol, max_iter=10, fixed_lam=None):
        """Newton on ``G = 0`` plus ``t.(x - xp) = 0`` (or ``x_lam = fixed_lam``)."""

        def bordered(x):
            gx, _ = self.jacobians(x)
            if fixed_lam is None:
                row, last = t, t @ (x - xp)
            else:
                row = np.zeros(self.n + 1)
                row[-1] = 1.0
                last = x[-1] - fixed_lam
            return np.vstack([gx, row]), -np.append(self.G(x), last)

        return newton_bordered(bordered, xp.copy(), tol, max_iter)

    def point(self, x, previous_tangent) -> _Point:
        gx, jac = self.jacobians(x)
        t = self.tangent(gx, previous_tangent)
        ev = sorted_eigenvalues(jac)
        tests = {
            "fold": t[-1],
            "hopf": _hopf_test(ev),
            "bp": float(np.linalg.det(np.vstack([gx, t]))),
        }
        return _Point(x=x, tangent=t, jac=jac, eigenvalues=ev, tests=tests)


def unit_tangent(gx, previous) -> np.ndarray:
    """The unit null vector of the (n, n+1) matrix ``gx``, oriented along ``previous``."""
    t = _solve(np.vstack([gx, previous]), np.append(np.zeros(gx.shape[0]), 1.0))
    return t / np.linalg.norm(t)


def newton_bordered(bordered, x, tol, max_iter):
    """Newton's method on a bordered system: ``bordered(x) -> (matrix, rhs)`` of the step.

    Returns ``(x, converged, iterations)``; gives up on a non-finite system or when the
    step grows twice in size after the second iteration (the corrector is diverging and
    the caller should shorten the continuation step).
    """
    previous = np.inf
    for it in range(1, max_iter + 1):
        m, rhs = bordered(x)
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(rhs))):
            return x, False, it
        dx = _solve(m, rhs)
        x = x + dx
        size = float(np.max(np.abs(dx)))
        if size < tol:
            return x, True, it
        if size > 2 * previous and it > 2:
            return x, False, it
        previous = size
    return x, False, max_iter


def _solve(m, rhs) -> np.ndarray:
    """``m^-1 rhs``; least squares where ``m`` is exactly singular (on a branch point)."""
    try:
        return np.linalg.solve(m, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(m, rhs, rcond=None)[0]


def _hopf_test(ev) -> float:
    """``prod_{i<j} (mu_i + mu_j)``: zero at a Hopf point (and at neutral saddles)."""
    n = len(ev)
    if n < 2:
        return 1.0
    i, j = np.triu_indices(n, 1)
    sums = ev[i] + ev[j]
    scale = np.max(np.abs(ev)) or 1.0
    return float(np.prod(sums / scale).real)


def _is_hopf(ev) -> bool:
    """True if the pair closest to summing to zero is a complex-conjugate pair."""
    n = len(ev)
    i, j = np.triu_indices(n, 1)
    k = int(np.argmin(np.abs(ev[i] + ev[j])))
    tol = 1e-6 * max(1.0, float(np.max(np.abs(ev))))
    return abs(ev[i[k]].imag) > tol and abs(ev[j[k]].imag) > tol


def _illinois(phi, a, b, fa, fb, xtol, max_iter=100):
    """Zero of ``phi`` in [a, b] (``fa``, ``fb`` of opposite signs): Illinois method.

    Regula falsi that halves the stale end's value when the same end is kept twice, so
    the bracket shrinks from both sides (superlinear).  ``phi`` may return None (no
    point there); then None is returned.
    """
    c = b
    for _ in range(max_iter):
        c = (a * fb - b * fa) / (fb - fa)
        fc = phi(c)
        if fc is None:
            return None
        if fc == 0.0:
            return c
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa *= 0.5
        b, fb = c, fc
        if abs(b - a) < xtol:
            return c
    return c


def _locate(branch, prev: _Point, ds, fun, f0, f1, tol):
    """Locate the zero of ``fun(point)`` on the step of length ``ds`` from ``prev``."""
    cache = {}

    def phi(s):
        x, ok, _ = branch.correct(prev.x + s * prev.tangent, prev.tangent, tol)
        if not ok:
            return None
        cache[s] = branch.point(x, prev.tangent)
        return fun(cache[s])

    s = _illinois(phi, 0.0, ds, f0, f1, xtol=1e-12 * max(ds, 1e-300))
    if s is None:
        return None, None
    if s not in cache and phi(s) is None:
        return None, None
    return s, cache[s]
