"""Defining systems of fold and Hopf curves, with their exact derivatives.

:class:`_Fold` (minimally extended, bordered) and :class:`_Hopf` (standard augmented) on
the common base :class:`_Defining`; ``J_y u`` and ``J_p u`` from the model's exact second
derivatives (:func:`_jac_y_times`, :func:`_jac_p_times`).  The systems are described in
:mod:`biosnn.analysis.codim2`.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.continuation.arclength import (
    _solve,
)
from biosnn.analysis.continuation.lyapunov import _first_lyapunov
from biosnn.errors import BiosnnError


def _jac_y_times(system, y, p, *vs):
    """``M[:, k] = (d J / d y_k) v = B(v, e_k)``, shape (n, n), for each ``v`` of ``vs``.

    One vectorized call of the bilinear-form kernel for all of them; returns one matrix
    per vector (a tuple if several).
    """
    n = system.n
    u = np.hstack([np.repeat(np.reshape(v, (n, 1)), n, axis=1) for v in vs])
    out = system.hess(y, u, np.tile(np.eye(n), len(vs)), p=p)
    mats = tuple(out[:, k * n : (k + 1) * n] for k in range(len(vs)))
    return mats if len(vs) > 1 else mats[0]


def _jac_p_times(system, y, p, name, v) -> np.ndarray:
    """``(d J / d name) v``: exact (sympy mixed second derivatives), shape (n,)."""
    import sympy

    def build():
        u = system._vectors("u")["u"]
        sym = sympy.Symbol(name, real=True)
        exprs = [
            sum((sympy.diff(e, sym) * u[j] for j, e in enumerate(row)), sympy.S(0))
            for row in system.spec.full_spec().jac
        ]
        return exprs, u

    fun = system._derived_function(f"dJd_{name}", build)
    return system._call(fun, y, p, [np.reshape(v, (system.n, 1))])[:, 0]


class _Defining:
    """Scaled unknowns ``x = (y / sy, (p1 - c1) / s1, (p2 - c2) / s2, extras)``."""

    type = ""

    def __init__(self, system: System, names, centres, scales, y_scale):
        self.system = system
        self.names = tuple(names)
        self.k = [system.index(name) for name in names]
        self.c = np.asarray(centres, dtype=float)
        self.s = np.asarray(scales, dtype=float)
        self.sy = np.asarray(y_scale, dtype=float)
        self.n = system.n

    def unpack(self, x):
        n = self.n
        y = (x[:n] * self.sy).reshape(-1, 1)
        lam = self.c + self.s * x[n : n + 2]
        p = self.system.p.copy()
        p[self.k, 0] = lam
        return y, lam, p

    def pack_yp(self, y, lam):
        return np.concatenate([np.ravel(y) / self.sy, (np.asarray(lam) - self.c) / self.s])

    def key(self, x):
        """The components that identify a point (not the null vector's sign)."""
        return x[: self.n + 2]

    def base(self, x):
        """f, its Jacobian in x's (y, p1, p2) columns, J, y, p."""
        y, _, p = self.unpack(x)
        f = self.system.f(y, p)[:, 0]
        jac = self.system.jac(y, p)[0]
        fp = np.stack([self.system.dfdp(y, name, p)[:, 0] for name in self.names], axis=1)
        return f, np.hstack([jac * self.sy[None, :], fp * self.s[None, :]]), jac, y, p


class _Fold(_Defining):
    """Minimally extended fold system: ``f = 0``, ``g = 0`` (bordered determinant)."""

    type = "fold"

    def start(self, jac):
        u, _, vt = np.linalg.svd(jac)
        self.c_border, self.b_border = vt[-1], u[:, -1]

    def _bordered(self, jac):
        n = self.n
        m = np.zeros((n + 1, n + 1))
        m[:n, :n] = jac
        m[:n, n] = self.b_border
        m[n, :n] = self.c_border
        rhs = np.zeros(n + 1)
        rhs[n] = 1.0
        vg = _solve(m, rhs)
        wg = _solve(m.T, rhs)
        return vg[:n], wg[:n], vg[n]

    def residual_and_jacobian(self, x):
        f, fx, jac, y, p = self.base(x)
        v, w, g = self._bordered(jac)
        gy = -w @ _jac_y_times(self.system, y, p, v) * self.sy
        gp = np.array([-w @ _jac_p_times(self.system, y, p, name, v) for name in self.names])
        row = np.concatenate([gy, gp * self.s])
        return np.append(f, g), np.vstack([fx, row])

    def info(self, x):
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        v, w, _ = self._bordered(jac)
        nv, nw = np.linalg.norm(v), np.linalg.norm(w)
        v, w = v / nv, w / nw
        b = self.system.hess(y, v.reshape(-1, 1), v.reshape(-1, 1), p=p)[:, 0]
        tests = {"cusp": float(w @ b), "bt": float(w @ v)}
        return {"jac": jac, "v": v, "w": w, "tests": tests}

    def adapt(self, info):
        self.c_border, self.b_border = info["v"], info["w"]


class _Hopf(_Defining):
    """Standard augmented Hopf system in ``(y, p1, p2, v, kappa)``."""

    type = "hopf"

    def start(self, jac):
        ev, vecs = np.linalg.eig(jac)
        upper = np.flatnonzero(ev.imag > 0)
        if upper.size == 0:
            raise BiosnnError("no complex pair of eigenvalues at the Hopf point")
        k = upper[np.argmin(np.abs(ev[upper].real))]
        omega = float(ev[k].imag)
        q = vecs[:, k]
        q = q * np.exp(-0.5j * np.angle(np.sum(q * q)))  # Re q, Im q orthogonal, Re larger
        v = q.real / np.linalg.norm(q.real)
        lvec = q.imag - (q.imag @ v) * v
        self.l_vec = lvec / np.linalg.norm(lvec)
        self.sk = omega**2
        return v, omega**2

    def pack(self, y, lam, v, kappa):
        return np.concatenate([self.pack_yp(y, lam), v, [kappa / self.sk]])

    def key(self, x):
        return np.append(x[: self.n + 2], x[-1])

    def split(self, x):
        n = self.n
        return x[n + 2 : 2 * n + 2], x[-1] * self.sk

    def residual_and_jacobian(self, x):
        n = self.n
        f, fx, jac, y, p = self.base(x)
        v, kappa = self.split(x)
        jv = jac @ v
        r2 = jac @ jv + kappa * v
        m1, m2 = _jac_y_times(self.system, y, p, jv, v)
        d2y = (m1 + jac @ m2) * self.sy[None, :]
        d2p = (
            np.stack(
                [
                    _jac_p_times(self.system, y, p, name, jv)
                    + jac @ _jac_p_times(self.system, y, p, name, v)
                    for name in self.names
                ],
                axis=1,
            )
            * self.s[None, :]
        )
        size = 2 * n + 3
        dg = np.zeros((2 * n + 2, size))
        dg[:n, : n + 2] = fx
        dg[n : 2 * n, :n] = d2y
        dg[n : 2 * n, n : n + 2] = d2p
        dg[n : 2 * n, n + 2 : 2 * n + 2] = jac @ jac + kappa * np.eye(n)
        dg[n : 2 * n, -1] = v * self.sk
        dg[2 * n, n + 2 : 2 * n + 2] = 2 * v
        dg[2 * n + 1, n + 2 : 2 * n + 2] = self.l_vec
        res = np.concatenate([f, r2, [v @ v - 1.0, v @ self.l_vec]])
        return res, dg

    def info(self, x):
        y, _, p = self.unpack(x)
        jac = self.system.jac(y, p)[0]
        v, kappa = self.split(x)
        l1 = omega = math.nan
        if kappa > 0:
            l1, omega = _first_lyapunov(self.system, y, p, jac)
        tests = {"bt": kappa / self.sk, "bautin": l1}
        return {"jac": jac, "v": v, "kappa": kappa, "l1": l1, "omega": omega, "tests": tests}

    def adapt(self, info):
        v, jac = info["v"], info["jac"]
        lvec = jac @ v
        lvec = lvec - (lvec @ v) * v
        norm = np.linalg.norm(lvec)
        if norm > 1e-12 * max(1.0, np.linalg.norm(jac)):
            self.l_vec = lvec / norm
