"""Continuation of periodic orbits (limit cycles) from a Hopf point.

:func:`continue_cycles` follows the branch of periodic orbits born at a Hopf point of an
equilibrium branch (:func:`~biosnn.analysis.continue_equilibria`) in one parameter, as
AUTO does:

* **Orthogonal collocation** (de Boor & Swartz; Doedel, Keller & Kernevez 1991, *Int. J.
  Bifurcation and Chaos* 1:493).  Time is rescaled to ``[0, 1]`` (``u' = T f(u, lam)``),
  cut into ``ntst`` mesh intervals; on each the orbit is a polynomial of degree ``ncol``
  given by its values at ``ncol + 1`` equally spaced nodes (neighbouring intervals share
  their end node) and the equation is imposed at the ``ncol`` Gauss-Legendre points.
  Mesh values are superconvergent (error ``O(h**(2 ncol))``).  Collocation was chosen
  over multiple shooting because its Newton matrix is built from the model's exact
  Jacobian at the collocation points in one vectorized kernel call, with no time
  integration at all, and because the monodromy matrix (hence the Floquet multipliers)
  comes for free from the condensed blocks of that matrix; shooting would integrate the
  variational equations at every Newton step.
* **Closing conditions**: periodicity ``u(0) = u(1)``; the integral phase condition
  ``int_0^1 <u(t), u_prev'(t)> dt = 0`` (the new orbit is phased against the previous
  one); pseudo-arclength in (orbit, period, parameter) with the ``L2`` norm of the orbit.
* **Newton** on all ``n (ntst ncol + 1) + 2`` unknowns with the exact Jacobian of the
  model at all collocation points (one vectorized kernel call).  The linear systems are
  solved as AUTO does, by condensation: the interior node values of every mesh interval
  are eliminated (batched QR of the ``n ncol x n (ncol - 1)`` blocks, all intervals at
  once), leaving a block-bidiagonal system on the ``ntst + 1`` mesh points with two
  border rows (phase, arclength), factorised by SuperLU (``scipy.sparse``).  After each
  step the mesh is redistributed so that ``h_j |u^(ncol)|_j ** (1/ncol)`` is
  equidistributed (fine intervals where the orbit bends, e.g. on a spike).
* **Start**: the Hopf point itself is the first point of the branch (amplitude zero,
  period ``2 pi / omega``); the first predictor moves along the critical eigenvector,
  ``u(t) = y_H + a Re(q exp(2 pi i t))``, and the corrector, keeping that amplitude
  ``a``, finds the parameter and period (which differ from the Hopf values by ``O(a**2)``,
  i.e. ``a ~ sqrt(|mu|)``).
* **Floquet multipliers**: on each interval the linearised collocation equations give
  ``u_j,ncol = M_j u_j,0`` after eliminating the interior nodes; the monodromy matrix is
  ``M_{ntst-1} ... M_0``.  One multiplier is 1 (trivial, removed); the orbit is stable
  when all others have modulus < 1.

Test functions along the branch (located by the Illinois method on the arclength, each
trial point corrected onto the branch): fold of cycles (``"lpc"``: the parameter
component of the tangent), period doubling (``"pd"``: ``prod (1 + mu_i)`` over the
non-trivial multipliers), Neimark-Sacker / torus (``"ns"``: ``prod_{i<j} (mu_i mu_j -
1)``; a zero with a real pair ``mu, 1/mu`` is a neutral saddle and is not reported).
Continuation stops at the end of the parameter interval, when the amplitude shrinks to
zero at another Hopf point (status ``"reached a Hopf point"``, whose parameter is
extrapolated from ``lam(a**2)``), or when the period grows beyond ``max_period``
(status ``"homoclinic"``: approach to a homoclinic orbit).

At a period doubling, :meth:`CycleBranch.switch` (or ``continue_cycles(model, pd, ...)``)
continues the period-doubled orbits: the orbit traversed twice, perturbed along the
Floquet eigenfunction of the multiplier -1 (see the Notes of :func:`continue_cycles`).

Examples
--------
>>> from biosnn import Model
>>> from biosnn.analysis import continue_equilibria, continue_cycles
>>> m = Model('''dx/dt = mu*x - y - x*(x**2 + y**2) : 1
...              dy/dt = x + mu*y - y*(x**2 + y**2) : 1''', params={"mu": -1})
>>> d = continue_equilibria(m, "mu", -1, 1)
>>> cycles = continue_cycles(m, d.special("hopf")[0], "mu", stop=1)
>>> round(float(cycles.max["x"][-1]), 8), round(float(cycles.period[-1]), 8)
(1.0, 6.28318531)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.continuation import _axis_label, _runs
from biosnn.analysis.options import CONTINUATION_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge

__all__ = ["CycleBranch", "CyclePoint", "continue_cycles"]

#: Labels of cycle special points in figures.
LABELS = {"lpc": "LPC", "pd": "PD", "ns": "NS"}

_TESTS = ("lpc", "pd", "ns")


# -- result objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class CyclePoint:
    """A bifurcation of periodic orbits on a cycle branch.

    Attributes
    ----------
    type : str
        ``"lpc"`` (fold of cycles), ``"pd"`` (period doubling), ``"ns"`` (torus).
    param : float
        Parameter value (display unit).
    period : float
        Period (ms, or time units).
    min, max : dict
        state -> minimum / maximum over the orbit (display units).
    multipliers : ndarray of complex
        Floquet multipliers (the trivial one included), by decreasing modulus.
    index : int
        Index of this point on the branch.
    """

    type: str
    param: float
    period: float
    min: dict
    max: dict
    multipliers: np.ndarray
    index: int
    _orbit: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def amplitude(self) -> dict:
        """State -> max - min (display units)."""
        return {k: self.max[k] - self.min[k] for k in self.max}

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "type": self.type,
            "param": float(self.param),
            "period": float(self.period),
            "min": {k: float(v) for k, v in self.min.items()},
            "max": {k: float(v) for k, v in self.max.items()},
            "amplitude": {k: float(v) for k, v in self.amplitude.items()},
            "multipliers": [[float(z.real), float(z.imag)] for z in self.multipliers],
            "index": int(self.index),
        }


@dataclass(frozen=True)
class CycleBranch:
    """A branch of periodic orbits (display units).

    Attributes
    ----------
    model, param : str
    units : dict
        name -> display unit (parameter and states).
    param_values, period : ndarray (N,)
    min, max : dict
        state -> ndarray (N,): extremes of each state over the orbit.
    multipliers : ndarray of complex (N, n_states)
        Floquet multipliers, by decreasing modulus (one is the trivial 1).
    stable : ndarray of bool (N,)
    special_points : list of CyclePoint
    status : str
        Why continuation stopped.
    end_param : float or None
        With status ``"reached a Hopf point"``: the parameter value where the amplitude
        vanishes (extrapolated in ``amplitude**2``).
    """

    model: str
    param: str
    units: dict
    param_values: np.ndarray
    period: np.ndarray
    min: dict
    max: dict
    multipliers: np.ndarray
    stable: np.ndarray
    special_points: list = field(default_factory=list)
    status: str = ""
    end_param: float | None = None
    _orbits: list = field(default_factory=list, repr=False)
    _context: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.param_values)

    def switch(self, point, **options) -> CycleBranch:
        """Continue the period-doubled orbits born at a period-doubling point of this branch.

        Parameters
        ----------
        point : CyclePoint
            A ``"pd"`` point of this branch (``branch.special("pd")[0]``).
        **options
            Options of :func:`continue_cycles` (``options=`` a
            :class:`~biosnn.analysis.options.ContinuationOptions`, ``ds``,
            ``max_points``, ``start``, ``stop``, ...); default those of this branch (the mesh is doubled with the
            orbit: ``2 ntst`` intervals).

        Returns
        -------
        CycleBranch
            The branch of period-2 orbits (period about twice this branch's), starting at
            the period-doubling point.  See :func:`continue_cycles` for the method.
        """
        if not self._context:
            raise BiosnnError(
                "this branch was not computed by continue_cycles: call "
                "continue_cycles(model, point, param, ...) instead"
            )
        ctx = self._context
        kwargs = dict(ctx["options"])
        kwargs["ntst"] = 2 * kwargs["ntst"]
        kwargs.update(options)
        return continue_cycles(ctx["model"], point, self.param, params=ctx["params"], **kwargs)

    def special(self, type: str | None = None) -> list:
        """Special points, all or those of one type (``"lpc"``, ``"pd"``, ``"ns"``)."""
        return [sp for sp in self.special_points if type is None or sp.type == type]

    def orbit(self, index: int, points: int = 200) -> tuple:
        """The orbit of point ``index``: ``(t, {state: values})`` over one period.

        ``t`` in ms (or time units), states in display units, sampled at ``points`` times
        from the collocation polynomials.
        """
        mesh, nodes, ncol = self._orbits[index]
        s = np.linspace(0.0, 1.0, points)
        values = _evaluate(mesh, nodes, ncol, s)
        return s * self.period[index], {k: values[:, i] for i, k in enumerate(self.min)}

    def __repr__(self) -> str:
        lines = [
            f"CycleBranch({self.model!r}, {self.param!r}: {len(self)} points, "
            f"{self.param_values.min():.6g} .. {self.param_values.max():.6g} "
            f"{self.units[self.param]}, period {self.period.min():.6g} .. "
            f"{self.period.max():.6g}; {self.status})"
        ]
        for sp in self.special_points:
            lines.append(
                f"  {LABELS[sp.type]} {sp.type} at {self.param} = {sp.param:.8g}, "
                f"period {sp.period:.6g}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict: the points along the branch and the special points."""
        return {
            "model": self.model,
            "param": self.param,
            "units": dict(self.units),
            "status": self.status,
            "end_param": self.end_param,
            "points": {
                "param": self.param_values.tolist(),
                "period": self.period.tolist(),
                "min": {k: v.tolist() for k, v in self.min.items()},
                "max": {k: v.tolist() for k, v in self.max.items()},
                "stable": self.stable.tolist(),
                "multipliers": [
                    [[float(z.real), float(z.imag)] for z in row] for row in self.multipliers
                ],
            },
            "special_points": [sp.to_dict() for sp in self.special_points],
        }

    def plot(self, var: str | None = None, ax=None, color="g", label_points: bool = True):
        """Plot max and min of ``var`` in the AUTO convention: stable solid, unstable dashed.

        Draw on the axes of :meth:`BifurcationDiagram.plot` to get the full diagram::

            ax = diagram.plot("V"); cycles.plot("V", ax=ax)

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        var = var or next(iter(self.min))
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
            ax.set_xlabel(_axis_label(self.param, self.units[self.param]))
            ax.set_ylabel(_axis_label(var, self.units[var]))
        x = self.param_values
        for y in (self.max[var], self.min[var]):
            for start, stop, stable in _runs(self.stable):
                sl = slice(start, min(stop + 1, len(x)))
                ax.plot(
                    x[sl],
                    y[sl],
                    color=color,
                    linestyle="-" if stable else "--",
                    linewidth=1.5 if stable else 1.0,
                )
        if label_points:
            for sp in self.special_points:
                for y in (sp.max[var], sp.min[var]):
                    ax.plot(sp.param, y, "s", color="m", markersize=4)
                ax.annotate(
                    LABELS[sp.type],
                    (sp.param, sp.max[var]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
        return ax


# -- collocation ------------------------------------------------------------------------


def _lagrange(nodes, points):
    """Values and derivatives of the Lagrange basis on ``nodes`` at ``points``.

    Returns ``(L, D)`` with ``L[k, i] = l_i(points[k])``, ``D[k, i] = l_i'(points[k])``.
    """
    m = len(nodes)
    vander = np.vander(nodes, m, increasing=True)  # V[i, p] = s_i**p
    coef = np.linalg.inv(vander)  # l_i(s) = sum_p coef[p, i] s**p
    powers = np.vander(points, m, increasing=True)
    dpowers = np.zeros_like(powers)
    dpowers[:, 1:] = powers[:, :-1] * np.arange(1, m)
    return powers @ coef, dpowers @ coef


def _evaluate(mesh, nodes, ncol, s):
    """Evaluate the piecewise polynomial (node values ``nodes`` (N ncol + 1, n)) at ``s``."""
    ntst = len(mesh) - 1
    j = np.clip(np.searchsorted(mesh, s, side="right") - 1, 0, ntst - 1)
    local = (s - mesh[j]) / (mesh[j + 1] - mesh[j])
    lag, _ = _lagrange(np.linspace(0.0, 1.0, ncol + 1), local)  # (len(s), ncol+1)
    idx = j[:, None] * ncol + np.arange(ncol + 1)[None, :]
    return np.einsum("ki,kia->ka", lag, nodes[idx])


class _Collocation:
    """The discretised boundary-value problem on one mesh (scaled unknowns).

    Unknowns ``X = (U (N ncol + 1 nodes x n, node-major), tau, Lam)`` with ``u = sy U``,
    ``T = Ts tau``, ``lam = lam0 + sl Lam``.
    """

    def __init__(self, system, k_param, param, lam0, sl, sy, ts, mesh, ncol):
        self.system, self.k, self.param = system, k_param, param
        self.lam0, self.sl, self.sy, self.ts = lam0, sl, np.asarray(sy, float), ts
        self.ncol, self.n = ncol, system.n
        self.set_mesh(mesh)

    def set_mesh(self, mesh):
        m, n = self.ncol, self.n
        self.mesh = np.asarray(mesh, dtype=float)
        self.ntst = N = len(self.mesh) - 1
        self.h = np.diff(self.mesh)
        gauss, weights = np.polynomial.legendre.leggauss(m)
        self.c, self.w = (gauss + 1) / 2, weights / 2
        self.L, self.D = _lagrange(np.linspace(0, 1, m + 1), self.c)
        self.nodes = N * m + 1
        self.nU = self.nodes * n
        self.size = self.nU + 2
        self.nc = N * m * n  # collocation equations
        self.idx = np.arange(N)[:, None] * m + np.arange(m + 1)[None, :]  # (N, m+1)
        # node weights of the L2 inner product (int of Lagrange basis, per interval)
        node_int = self.w @ self.L  # (m+1,)
        omega = np.zeros(self.nodes)
        np.add.at(omega, self.idx, self.h[:, None] * node_int[None, :])
        self.omega = np.repeat(omega, n)
        self.weights = np.append(self.omega, [1.0, 1.0])

    # helpers ----------------------------------------------------------------------------
    def unpack(self, X):
        U = X[: self.nU].reshape(self.nodes, self.n)
        return U * self.sy, self.ts * X[self.nU], self.lam0 + self.sl * X[self.nU + 1]

    def params(self, lam):
        p = self.system.p.copy()
        p[self.k] = lam
        return p

    def at_collocation(self, U):
        """(x, xdot) at the collocation points, shape (N, m, n) each, of node values U."""
        ui = U[self.idx]  # (N, m+1, n)
        x = np.einsum("ki,jia->jka", self.L, ui)
        xdot = np.einsum("ki,jia->jka", self.D, ui) / self.h[:, None, None]
        return x, xdot

    def _model(self, x, lam, derivatives):
        p = self.params(lam)
        y = x.reshape(-1, self.n).T
        f = self.system.f(y, p).T.reshape(x.shape)
        if not derivatives:
            return f, None, None
        jac = self.system.jac(y, p).reshape(self.ntst, self.ncol, self.n, self.n)
        fp = self.system.dfdp(y, self.param, p).T.reshape(x.shape)
        return f, jac, fp

    def blocks(self, jac, T):
        """``d r_jk / d u_j,i`` (unscaled): shape (N, m, n, m+1, n)."""
        eye = np.eye(self.n)
        return (
            self.D[None, :, None, :, None]
            / self.h[:, None, None, None, None]
            * eye[None, None, :, None, :]
            - T * self.L[None, :, None, :, None] * jac[:, :, :, None, :]
        )

    # residual and Jacobian ----------------------------------------------------------------
    def residual(self, X, ref_dot, row, target, jacobian=True):
        """Residual (and condensed Jacobian) of collocation, periodicity, phase and ``row``.

        ``ref_dot``: derivative of the reference orbit at the collocation points (scaled,
        (N, m, n)); the last equation is ``row . (X - target) = 0``.
        """
        u, T, lam = self.unpack(X)
        x, xdot = self.at_collocation(u)
        f, jac, fp = self._model(x, lam, jacobian)
        sy = self.sy
        r = ((xdot - T * f) / sy).ravel()
        U = X[: self.nU].reshape(self.nodes, self.n)
        per = U[0] - U[-1]
        qw = self.h[:, None] * self.w[None, :]  # (N, m)
        xs, _ = self.at_collocation(U)
        phase = np.sum(qw[:, :, None] * xs * ref_dot)
        res = np.concatenate([r, per, [phase, row @ (X - target)]])
        if not jacobian:
            return res, None
        n, m, N = self.n, self.ncol, self.ntst
        blk = self.blocks(jac, T) * (sy[None, None, None, None, :] / sy[None, None, :, None, None])
        dtau = -self.ts * f / sy
        dlam = -T * self.sl * fp / sy
        dphase = np.zeros((self.nodes, n))
        np.add.at(dphase, self.idx, np.einsum("jk,ki,jka->jia", qw, self.L, ref_dot))
        border = np.vstack([np.append(dphase.ravel(), [0.0, 0.0]), row])
        jac_blocks = (
            blk.reshape(N, m * n, (m + 1) * n),
            np.stack([dtau, dlam], axis=-1).reshape(N, m * n, 2),
            border,
        )
        return res, _Condensed(self, *jac_blocks)

    def ref_dot(self, X):
        U = X[: self.nU].reshape(self.nodes, self.n)
        return self.at_collocation(U)[1]

    def extremes(self, X, samples=8):
        """(min, max) over the orbit of each state (internal units)."""
        u, _, _ = self.unpack(X)
        s = np.linspace(0, 1, samples + 1)[:-1] + 0.5 / samples
        lag, _ = _lagrange(np.linspace(0, 1, self.ncol + 1), s)
        values = np.einsum("ki,jia->jka", lag, u[self.idx]).reshape(-1, self.n)
        values = np.vstack([values, u])
        return values.min(axis=0), values.max(axis=0)

    def amplitude(self, X):
        """L2 norm of the scaled orbit minus its mean."""
        U = X[: self.nU].reshape(self.nodes, self.n)
        w = self.omega[:: self.n]
        mean = w @ U / w.sum()
        return float(np.sqrt(np.sum(w[:, None] * (U - mean) ** 2)))

    def adapted_mesh(self, X):
        """A mesh equidistributing ``h |u^(m)| ** (1/m)`` of the orbit ``X``."""
        U = X[: self.nU].reshape(self.nodes, self.n)
        m = self.ncol
        # m-th derivative of the degree-m polynomial: the m-th finite difference / h**m
        ui = U[self.idx]  # (N, m+1, n)
        diff = np.abs(np.diff(ui, n=m, axis=1))[:, 0, :]  # (N, n)
        deriv = np.max(diff, axis=1) / self.h**m
        # smooth over neighbours (AUTO averages the derivative of adjacent intervals)
        deriv = (np.roll(deriv, 1) + 2 * deriv + np.roll(deriv, -1)) / 4
        density = deriv ** (1.0 / m)
        density = density + 0.05 * np.mean(density) + 1e-300
        cum = np.concatenate([[0.0], np.cumsum(density * self.h)])
        cum /= cum[-1]
        return np.interp(np.linspace(0, 1, self.ntst + 1), cum, self.mesh)

    def remesh(self, X, new_mesh, tangent=None):
        """Interpolate ``X`` (and a tangent) onto ``new_mesh``; returns the new vectors."""
        old_mesh, old_nodes = self.mesh, self.nodes
        base = np.linspace(0, 1, self.ncol + 1)
        h = np.diff(new_mesh)
        s_nodes = np.append((new_mesh[:-1, None] + h[:, None] * base[None, :])[:, :-1].ravel(), 1.0)
        out = []
        for vec in (X, tangent):
            if vec is None:
                out.append(None)
                continue
            U = vec[: old_nodes * self.n].reshape(old_nodes, self.n)
            new = _evaluate(old_mesh, U, self.ncol, s_nodes)
            out.append(np.concatenate([new.ravel(), vec[old_nodes * self.n :]]))
        self.set_mesh(new_mesh)
        return out


class _Condensed:
    """The Newton matrix of a collocation problem, condensed onto the mesh points.

    On each mesh interval the ``n ncol`` collocation equations are rotated by the QR
    factorisation of their columns of the ``n (ncol - 1)`` interior node values (batched
    over the intervals): the first rows give the interior values in terms of the two end
    nodes and ``(tau, Lam)``; the last ``n`` rows, ``C0 v_j + Cm v_j+1 + Cg g = e``, are
    the condensed equations (AUTO's condensation of parameters).  With periodicity and the
    two border rows (phase, arclength; interior columns substituted) they form a dense
    system of size ``n (ntst + 1) + 2``.  ``-Cm^-1 C0`` is the transfer matrix of the
    interval (at fixed ``g``): their product is the monodromy matrix.
    """

    def __init__(self, coll, blk, glob, border):
        N, m, n = coll.ntst, coll.ncol, coll.n
        k = (m - 1) * n
        self.coll, self.k = coll, k
        q, r = np.linalg.qr(blk[:, :, n : n + k], mode="complete")
        self.qt = q.transpose(0, 2, 1)
        self.r = r[:, :k, :]
        ends = np.concatenate([blk[:, :, :n], blk[:, :, n + k :], glob], axis=2)
        e = self.qt @ ends  # (N, nm, 2n+2)
        self.W = -np.linalg.solve(self.r, e[:, :k])  # (N, k, 2n+2)
        self.C = e[:, k:]  # (N, n, 2n+2)
        nr = (N + 1) * n + 2
        rows = np.arange(N * n).reshape(N, n)
        cols = np.concatenate(
            [rows, rows + n, np.broadcast_to([nr - 2, nr - 1], (N, 2))], axis=1
        )  # (N, 2n+2)
        self.cols = cols
        bu = border[:, : coll.nU].reshape(2, coll.nodes, n)
        self.b_int = bu[:, coll.idx[:, 1:-1], :].reshape(2, N, k)  # interior columns
        contrib = np.einsum("rjk,jkc->rjc", self.b_int, self.W)  # (2, N, 2n+2)
        per = N * n + np.arange(n)
        last = np.arange(nr - 2, nr)
        mesh_cols = np.arange((N + 1) * n)
        # COO entries (duplicates are summed): condensed rows, periodicity, border rows
        self.entries = (
            np.concatenate(
                [
                    self.C.ravel(),
                    np.ones(n),
                    -np.ones(n),
                    bu[:, ::m, :].ravel(),
                    border[:, coll.nU :].ravel(),
                    contrib.ravel(),
                ]
            ),
            np.concatenate(
                [
                    np.broadcast_to(rows[:, :, None], self.C.shape).ravel(),
                    per,
                    per,
                    np.repeat(last, mesh_cols.size),
                    np.repeat(last, 2),
                    np.broadcast_to(last[:, None, None], contrib.shape).ravel(),
                ]
            ),
            np.concatenate(
                [
                    np.broadcast_to(cols[:, None, :], self.C.shape).ravel(),
                    np.arange(n),
                    per,
                    np.tile(mesh_cols, 2),
                    np.tile(last, 2),
                    np.broadcast_to(cols[None], contrib.shape).ravel(),
                ]
            ),
        )
        self.nr = nr
        self._lu = None

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.entries[0])))

    def _factor(self):
        # SuperLU on the condensed matrix (block-bidiagonal with two border rows); a dense
        # LAPACK solve of this size is slow with a threaded BLAS on a busy machine
        if self._lu is None:
            import scipy.sparse as sp
            import scipy.sparse.linalg as spl

            vals, rows, cols = self.entries
            matrix = sp.csc_matrix((vals, (rows, cols)), shape=(self.nr, self.nr))
            self._lu = spl.splu(matrix)
        return self._lu

    def solve(self, rhs):
        """Solve the Newton system for ``rhs`` (equation order of ``residual``)."""
        coll = self.coll
        N, m, n, k = coll.ntst, coll.ncol, coll.n, self.k
        e = (self.qt @ rhs[: coll.nc].reshape(N, m * n, 1))[:, :, 0]
        wr = np.linalg.solve(self.r, e[:, :k, None])[:, :, 0]  # (N, k)
        rr = np.concatenate(
            [
                e[:, k:].ravel(),
                rhs[coll.nc : coll.nc + n],
                rhs[-2:] - np.einsum("rjk,jk->r", self.b_int, wr),
            ]
        )
        try:
            y = self._factor().solve(rr)
        except RuntimeError as exc:  # exactly singular
            raise np.linalg.LinAlgError(str(exc)) from None
        x = y[self.cols]  # (N, 2n+2)
        w = wr + np.einsum("jkc,jc->jk", self.W, x)
        nodes = np.empty((coll.nodes, n))
        nodes[::m] = y[: (N + 1) * n].reshape(N + 1, n)
        nodes[coll.idx[:, 1:-1]] = w.reshape(N, m - 1, n)
        return np.concatenate([nodes.ravel(), y[-2:]])

    def multipliers(self):
        """Floquet multipliers (by decreasing modulus) from the condensed blocks."""
        n = self.coll.n
        try:
            transfer = -np.linalg.solve(self.C[:, :, n : 2 * n], self.C[:, :, :n])
        except np.linalg.LinAlgError:
            return np.full(n, np.nan + 0j)
        mono = np.eye(n)
        for mat in transfer:
            mono = mat @ mono
        if not np.all(np.isfinite(mono)):
            return np.full(n, np.nan + 0j)
        mu = np.linalg.eigvals(mono)
        return mu[np.argsort(-np.abs(mu))]


# -- the continuation loop --------------------------------------------------------------


@dataclass
class _Pt:
    X: np.ndarray
    t: np.ndarray
    mu: np.ndarray
    tests: dict
    special: str | None = None
    mesh: np.ndarray | None = None


class _Cont:
    """Corrector and tangent on one collocation problem."""

    def __init__(self, coll: _Collocation, tol, max_iter=8):
        self.coll, self.tol, self.max_iter = coll, tol, max_iter

    def correct(self, X_pred, t, ref_dot):
        """Newton from ``X_pred`` on the hyperplane normal to ``t``.

        Returns ``(X, ok, iterations, lu)``: ``lu`` is the factorised Jacobian of the last
        iteration (at a point within ``tol`` of ``X``), reused for the tangent.
        """
        coll = self.coll
        row = coll.weights * t
        X = X_pred.copy()
        previous = np.inf
        for it in range(1, self.max_iter + 1):
            res, lu = coll.residual(X, ref_dot, row, X_pred)
            if not np.all(np.isfinite(res)) or not lu.finite():
                return X, False, it, None
            try:
                dx = lu.solve(-res)
            except np.linalg.LinAlgError:
                return X, False, it, None
            if not np.all(np.isfinite(dx)):
                return X, False, it, None
            X = X + dx
            size = float(np.max(np.abs(dx)))
            # converged, or (quadratic convergence) the next correction would be below tol
            if size < self.tol or (it > 1 and size < 1e-3 and size**2 / previous < self.tol):
                return X, True, it, lu
            if size > 2 * previous and it > 2:
                return X, False, it, None
            previous = size
        return X, False, self.max_iter, None

    def point(self, X, lu):
        """The point ``X`` with its tangent (from the corrector's last ``lu``) and tests."""
        rhs = np.zeros(self.coll.size)
        rhs[-1] = 1.0
        t = lu.solve(rhs)
        t /= math.sqrt(t @ (self.coll.weights * t))
        mu = lu.multipliers()
        return _Pt(X=X, t=t, mu=mu, tests=_tests(t, mu), mesh=self.coll.mesh.copy())


def _nontrivial(mu):
    """The multipliers without the one closest to 1."""
    if not np.all(np.isfinite(mu)):
        return mu
    k = int(np.argmin(np.abs(mu - 1.0)))
    return np.delete(mu, k)


def _tests(t, mu):
    rest = _nontrivial(mu)
    pd = float(np.prod(1.0 + rest).real) if rest.size else 1.0
    if rest.size >= 2:
        i, j = np.triu_indices(rest.size, 1)
        ns = float(np.prod(rest[i] * rest[j] - 1.0).real)
    else:
        ns = 1.0
    return {"lpc": float(t[-1]), "pd": pd, "ns": ns}


def _candidate(name, mu) -> bool:
    """Can ``mu`` be on either side of a PD (a negative real multiplier) or NS (a pair)?"""
    rest = _nontrivial(mu)
    if name == "pd":
        return bool(np.any((rest.real < 0) & (np.abs(rest.imag) <= 1e-9 * np.abs(rest))))
    return bool(np.any(np.abs(rest.imag) > 1e-9 * np.abs(rest)))


def _is_ns(mu) -> bool:
    rest = _nontrivial(mu)
    i, j = np.triu_indices(rest.size, 1)
    k = int(np.argmin(np.abs(rest[i] * rest[j] - 1.0)))
    return abs(rest[i[k]].imag) > 1e-6 and abs(rest[j[k]].imag) > 1e-6


def continue_cycles(
    model,
    hopf_point,
    param: str,
    *,
    params=None,
    start=None,
    stop=None,
    ntst: int = 40,
    ncol: int = 4,
    options=None,
    ds: float | None = None,
    ds_max: float | None = None,
    ds_min: float | None = None,
    max_points: int | None = None,
    tol: float | None = None,
    max_angle: float | None = None,
    max_period: float | None = None,
    adapt: bool = True,
) -> CycleBranch:
    """Continue the periodic orbits born at a Hopf point (or at a period doubling).

    Parameters
    ----------
    model : Model or str
    hopf_point : SpecialPoint or CyclePoint
        A ``"hopf"`` point of :func:`continue_equilibria` (its ``state`` and ``param``),
        or a ``"pd"`` point of an earlier :class:`CycleBranch` in the same parameter:
        then the branch of period-doubled orbits is continued (branch switching; see
        below and :meth:`CycleBranch.switch`).
    param : str
        The continuation parameter (the one of the equilibrium diagram).
    params : dict, optional
        The other parameters (display units), as given to :func:`continue_equilibria`.
    start, stop : float or str, optional
        Bounds of the parameter interval (display units); the branch stops when it leaves
        it.  Default: unbounded.
    ntst, ncol : int
        Mesh intervals and collocation points per interval (AUTO's NTST, NCOL).  From a
        period-doubling point the doubled orbit keeps the mesh and ``ncol`` of the point
        (``2 ntst`` intervals of the original branch) and is remeshed to ``ntst``
        intervals when that differs.
    options : ContinuationOptions, optional
        Step control (default ``analysis.options.CONTINUATION_DEFAULTS["continue_cycles"]``:
        ``ds=0.02``, ``ds_max=0.5``, ``ds_min=1e-7``, ``max_points=500``, ``tol=1e-9``,
        ``max_angle=0.3``; docs/options.md).  The keywords below override its fields.
    ds, ds_max, ds_min : float, optional
        First, largest and smallest arclength step (scaled: states divided by
        ``max(|y_H|, 1)`` (from a period doubling: by ``max(max |u|, 1)`` over the
        orbit), the period by its value at the start, the parameter by
        ``max(|lam_start|, 1)``, internal units).
    max_points : int, optional
    tol : float, optional
        Newton tolerance (scaled unknowns).
    max_angle : float, optional
        Largest angle between successive tangents (radians).
    max_period : float, optional
        Stop with status ``"homoclinic"`` when the period exceeds this (ms or time units);
        default 20 times the period at the start.
    adapt : bool
        Redistribute the mesh after every step.

    Returns
    -------
    CycleBranch

    Notes
    -----
    **Period doubling.**  At a ``"pd"`` point the monodromy matrix has the multiplier
    -1; its eigenvector ``v(0)``, carried along the orbit by the transfer matrices of the
    condensed collocation blocks (the linearised equation, interior nodes included),
    gives the Floquet eigenfunction ``v(t)`` with ``v(T) = -v(0)``.  The orbit traversed
    twice (period ``2T``, mesh doubled) is a solution of the doubled problem at which
    the period-2 branch crosses it transversally; the first predictor moves along
    ``(v, -v)`` over the two halves (a ``2T``-periodic perturbation orthogonal to the
    doubled orbit's own tangent) and the corrector, on the hyperplane normal to it,
    lands on the period-2 orbit.  The branch stops like any other, or with status
    ``"reached a period doubling"`` when the difference between the two halves of the
    orbit shrinks to zero again (period halving; ``end_param`` extrapolated in its
    square).
    """
    opts = merge(
        options,
        CONTINUATION_DEFAULTS["continue_cycles"],
        "continue_cycles",
        ds=ds,
        ds_max=ds_max,
        ds_min=ds_min,
        max_points=max_points,
        tol=tol,
        max_angle=max_angle,
    )
    ds, ds_max, ds_min = opts.ds, opts.ds_max, opts.ds_min
    max_points, tol, max_angle = opts.max_points, opts.tol, opts.max_angle
    model = as_model(model)
    kind = getattr(hopf_point, "type", "hopf")
    if kind not in ("hopf", "pd"):
        raise BiosnnError(
            f"continue_cycles starts at a Hopf point or at a period doubling ('pd'), not a {kind!r}"
        )
    system = System(model, params)
    k = system.index(param)
    if kind == "hopf":
        coll, first, ref_first = _hopf_start(system, model, k, param, hopf_point, ntst, ncol)
        size = _Collocation.amplitude
    else:
        coll, first, ref_first = _pd_start(system, model, k, param, hopf_point)
        if ntst != coll.ntst:  # keep the distribution of the point's mesh
            mesh = np.interp(
                np.linspace(0, 1, ntst + 1), np.linspace(0, 1, coll.ntst + 1), coll.mesh
            )
            first = _remeshed(coll, first, mesh)
            ref_first = coll.ref_dot(first.X)
        size = _half_difference
    bounds = [-np.inf, np.inf]
    for b, v in enumerate((start, stop)):
        if v is not None:
            bounds[b] = float(model.to_internal(param, v))
    t0 = coll.ts
    period_cap = (20 * t0) if max_period is None else float(max_period)
    cont = _Cont(coll, tol)
    points, status, end = _march(
        cont,
        first,
        ref_first,
        size,
        min(bounds),
        max(bounds),
        period_cap,
        ds,
        ds_max,
        ds_min,
        max_points,
        max_angle,
        adapt,
        "reached a Hopf point" if kind == "hopf" else "reached a period doubling",
    )
    end_param = None if end is None else float(model.from_internal(param, end))
    context = {
        "model": model,
        "params": dict(params or {}),
        "options": dict(
            start=start,
            stop=stop,
            ntst=ntst,
            ncol=ncol,
            options=opts,
            max_period=max_period,
            adapt=adapt,
        ),
    }
    return _branch(model, param, coll, points, status, end_param, context)


def _hopf_start(system, model, k, param, hopf_point, ntst, ncol):
    """The collocation problem, the Hopf point as first point, and the first phase ref."""
    states = system.spec.states
    lam_h = float(model.to_internal(param, hopf_point.param))
    y_h = np.array([float(model.to_internal(s, hopf_point.state[s])) for s in states])
    p = system.p.copy()
    p[k] = lam_h
    jac = system.jac(y_h.reshape(-1, 1), p)[0]
    ev, vecs = np.linalg.eig(jac)
    upper = np.flatnonzero(ev.imag > 0)
    if upper.size == 0:
        raise BiosnnError("no complex eigenvalue pair at the given Hopf point")
    i_h = upper[np.argmin(np.abs(ev[upper].real))]
    omega = float(ev[i_h].imag)
    q = vecs[:, i_h]
    t0 = 2 * math.pi / omega
    sy = np.maximum(np.abs(y_h), 1.0)
    sl = max(abs(lam_h), 1.0)
    coll = _Collocation(system, k, param, lam_h, sl, sy, t0, np.linspace(0, 1, ntst + 1), ncol)
    # the Hopf point and the critical eigenfunction
    s_nodes = _node_times(coll)
    phi = np.real(q[None, :] * np.exp(2j * math.pi * s_nodes)[:, None]) / sy
    X0 = np.concatenate([np.tile(y_h / sy, coll.nodes), [1.0, 0.0]])
    tan0 = np.concatenate([phi.ravel(), [0.0, 0.0]])
    tan0 /= math.sqrt(tan0 @ (coll.weights * tan0))
    mu0 = coll.residual(X0, coll.ref_dot(tan0), tan0, X0)[1].multipliers()
    first = _Pt(X=X0, t=tan0, mu=mu0, tests=_tests(tan0, mu0), mesh=coll.mesh.copy())
    return coll, first, coll.ref_dot(tan0)


def _pd_start(system, model, k, param, pd):
    """The doubled problem at a period-doubling point: (coll, first point, phase ref)."""
    orbit = getattr(pd, "_orbit", None)
    if orbit is None:
        raise BiosnnError(
            "the period-doubling point carries no orbit: pass a 'pd' point "
            "of a branch computed by continue_cycles"
        )
    mesh, u, period, lam, ncol = orbit
    if u.shape[1] != system.n:
        raise BiosnnError(
            f"the period-doubling point has {u.shape[1]} states, "
            f"{model.name} has {system.n}: it comes from another model"
        )
    n = system.n
    sy = np.maximum(np.max(np.abs(u), axis=0), 1.0)
    sl = max(abs(lam), 1.0)
    single = _Collocation(system, k, param, lam, sl, sy, period, mesh, ncol)
    X1 = np.concatenate([(u / sy).ravel(), [1.0, 0.0]])
    _, lu = single.residual(X1, single.ref_dot(X1), np.zeros(single.size), X1)
    transfer = -np.linalg.solve(lu.C[:, :, n : 2 * n], lu.C[:, :, :n])
    mono = np.eye(n)
    for mat in transfer:
        mono = mat @ mono
    mu, vecs = np.linalg.eig(mono)
    i = int(np.argmin(np.abs(mu + 1.0)))
    if abs(mu[i] + 1.0) > 1e-3:
        raise BiosnnError(
            f"no Floquet multiplier -1 at the given point (closest: "
            f"{complex(mu[i]):.6g}): it is not a period doubling"
        )
    v = np.real(vecs[:, i])
    ends = [v / np.linalg.norm(v)]
    for mat in transfer:  # v at the mesh points
        ends.append(mat @ ends[-1])
    ends = np.array(ends)  # (ntst + 1, n)
    N, m = single.ntst, single.ncol
    interior = np.einsum(
        "jkc,jc->jk", lu.W[:, :, : 2 * n], np.hstack([ends[:-1], ends[1:]])
    )  # (N, (m-1) n)
    V = np.empty((single.nodes, n))
    V[::m] = ends
    V[single.idx[:, 1:-1]] = interior.reshape(N, m - 1, n)
    # the orbit twice over and the perturbation (v, -v): 2T-periodic since v(T) = -v(0)
    mesh2 = np.concatenate([mesh[:-1] / 2, 0.5 + mesh / 2])
    U2 = np.vstack([u[:-1] / sy, u / sy])
    P2 = np.vstack([V[:-1], -V])
    coll = _Collocation(system, k, param, lam, sl, sy, 2 * period, mesh2, ncol)
    X0 = np.concatenate([U2.ravel(), [1.0, 0.0]])
    tan0 = np.concatenate([P2.ravel(), [0.0, 0.0]])
    tan0 /= math.sqrt(tan0 @ (coll.weights * tan0))
    ref = coll.ref_dot(X0)
    mu0 = coll.residual(X0, ref, tan0, X0)[1].multipliers()
    first = _Pt(X=X0, t=tan0, mu=mu0, tests=_tests(tan0, mu0), mesh=coll.mesh.copy())
    return coll, first, ref


def _remeshed(coll, pt, mesh):
    X, t = coll.remesh(pt.X, mesh, pt.t)
    t = t / math.sqrt(t @ (coll.weights * t))
    return _Pt(X=X, t=t, mu=pt.mu, tests=pt.tests, special=pt.special, mesh=coll.mesh.copy())


def _half_difference(coll, X, samples=64):
    """RMS over the orbit of ``u(s + 1/2) - u(s)`` (scaled): zero on a doubled orbit."""
    U = X[: coll.nU].reshape(coll.nodes, coll.n)
    s = np.linspace(0.0, 0.5, samples, endpoint=False)
    first = _evaluate(coll.mesh, U, coll.ncol, s)
    second = _evaluate(coll.mesh, U, coll.ncol, s + 0.5)
    return float(np.sqrt(np.mean((second - first) ** 2)))


def _march(
    cont,
    first,
    ref_first,
    size,
    lo,
    hi,
    period_cap,
    ds,
    ds_max,
    ds_min,
    max_points,
    max_angle,
    adapt,
    vanish_status,
):
    """Predictor-corrector loop on cycles: (points, status, end parameter or None).

    ``size(coll, X)`` measures the orbit's distance from where the branch was born (the
    amplitude from a Hopf point, the half-period difference from a period doubling);
    when it shrinks below half its first value the branch has reached the same kind of
    point again (``vanish_status``), whose parameter is extrapolated in ``size**2``.
    """
    coll = cont.coll
    points = [first]
    status = f"reached max_points = {max_points}"
    end_param = None
    cos_max = math.cos(max_angle)
    size_first = None
    while len(points) < max_points:
        prev = points[-1]
        ref = coll.ref_dot(prev.X) if len(points) > 1 else ref_first
        X, ok, iters, lu = cont.correct(prev.X + ds * prev.t, prev.t, ref)
        new = None
        if ok:
            new = cont.point(X, lu)
            if len(points) > 1 and new.t @ (coll.weights * prev.t) < cos_max:
                new = None
        if new is None:
            if ds <= ds_min:
                status = "step size below ds_min (corrector failed)"
                break
            ds = max(ds / 2, ds_min)
            continue
        found = _specials(cont, prev, new, ds, ref) if len(points) > 1 else []
        points.extend(pt for _, pt in found)
        points.append(new)
        _, T, lam = coll.unpack(new.X)
        amp = size(coll, new.X)
        size_first = amp if size_first is None else size_first
        if not lo <= lam <= hi:
            bound = ((hi if lam > hi else lo) - coll.lam0) / coll.sl  # scaled
            end = _at_bound(cont, prev, ds, ref, bound, new.X[-1] - bound)
            points[-1:] = [end] if end is not None else []
            status = "reached the end of the interval"
            break
        if T > period_cap:
            status = "homoclinic"
            break
        amp_prev = size(coll, prev.X)
        if len(points) > 3 and amp < amp_prev:
            if amp < 0.5 * size_first:
                status = vanish_status
                _, _, lam_prev = coll.unpack(prev.X)
                # lam = lam_end + c a**2 through the last two points
                end_param = lam + (lam_prev - lam) * amp**2 / (amp**2 - amp_prev**2)
                break
        ds = min(ds * 1.5, ds_max) if iters <= 3 else ds * 0.7 if iters >= 6 else ds
        if len(points) > 3 and amp < amp_prev:
            ds = min(ds, 0.6 * amp)  # approach the end geometrically
        if adapt:
            points[-1] = _remeshed(coll, new, coll.adapted_mesh(new.X))
    return points, status, end_param


def _node_times(coll):
    base = np.linspace(0, 1, coll.ncol + 1)
    s = (coll.mesh[:-1, None] + coll.h[:, None] * base[None, :])[:, :-1].ravel()
    return np.append(s, 1.0)


def _root(phi, a, b, fa, fb, xtol, max_iter=40):
    """Zero of ``phi`` in [a, b] (``fa``, ``fb`` of opposite signs).

    Secant steps from the two latest iterates, kept inside the bracket (Illinois regula
    falsi when a secant step leaves it); stops when an iterate moves less than ``xtol``.
    Returns None where ``phi`` returns None (no point found there).
    """
    x0, f0, x1, f1 = a, fa, b, fb
    for _ in range(max_iter):
        c = x1 - f1 * (x1 - x0) / (f1 - f0)
        lo, hi = min(a, b), max(a, b)
        if not lo < c < hi:
            c = (a * fb - b * fa) / (fb - fa)
        fc = phi(c)
        if fc is None:
            return None
        if fc == 0.0 or abs(c - x1) < xtol:
            return c
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa *= 0.5
        b, fb = c, fc
        x0, f0, x1, f1 = x1, f1, c, fc
    return c


def _at_bound(cont, prev, ds, ref, bound, f_new):
    """The point of the step from ``prev`` where the scaled parameter equals ``bound``."""
    cache = {}

    def phi(s):
        X, ok, _, lu = cont.correct(prev.X + s * prev.t, prev.t, ref)
        if not ok:
            return None
        cache[s] = cont.point(X, lu)
        return cache[s].X[-1] - bound

    s = _root(phi, 0.0, ds, prev.X[-1] - bound, f_new, xtol=1e-12 * ds)
    return cache.get(s)


def _specials(cont, prev, new, ds, ref):
    found = []
    for name in _TESTS:
        f0, f1 = prev.tests[name], new.tests[name]
        if not (np.isfinite(f0) and np.isfinite(f1)) or f0 * f1 >= 0:
            continue
        if name != "lpc" and not (_candidate(name, prev.mu) and _candidate(name, new.mu)):
            continue  # a real pair mu, 1/mu (ns) or a sign change through infinity
        cache = {}

        def phi(s, name=name):
            X, ok, _, lu = cont.correct(prev.X + s * prev.t, prev.t, ref)
            if not ok:
                return None
            cache[s] = cont.point(X, lu)
            return cache[s].tests[name]

        s = _root(phi, 0.0, ds, f0, f1, xtol=1e-7 * ds, max_iter=40 if name == "lpc" else 15)
        if s is None or (s not in cache and phi(s) is None):
            continue
        pt = cache[s]
        if name == "ns" and not _is_ns(pt.mu):
            continue
        pt.special = name
        found.append((s, pt))
    return sorted(found, key=lambda item: item[0])


def _branch(model, param, coll, points, status, end_param, context) -> CycleBranch:
    states = coll.system.spec.states
    n = len(points)
    lam = np.empty(n)
    period = np.empty(n)
    lows = np.empty((n, coll.n))
    highs = np.empty((n, coll.n))
    orbits, internal = [], []
    mesh_now = coll.mesh
    for i, pt in enumerate(points):
        if len(pt.mesh) != len(coll.mesh) or not np.array_equal(pt.mesh, coll.mesh):
            coll.set_mesh(pt.mesh)
        u, period[i], lam[i] = coll.unpack(pt.X)
        lows[i], highs[i] = coll.extremes(pt.X)
        # node values in display units (unit conversion is affine: it commutes with the
        # Lagrange interpolation, whose basis sums to one)
        shown = np.column_stack([model.from_internal(s, u[:, i]) for i, s in enumerate(states)])
        orbits.append((pt.mesh, np.asarray(shown, dtype=float), coll.ncol))
        internal.append((pt.mesh, u, float(period[i]), float(lam[i]), coll.ncol))
    coll.set_mesh(mesh_now)
    mus = np.array([pt.mu for pt in points])
    stable = np.array([bool(np.all(np.abs(_nontrivial(mu)) < 1.0)) for mu in mus])
    shown_lam = np.asarray(model.from_internal(param, lam), dtype=float)
    low = {s: np.asarray(model.from_internal(s, lows[:, i]), float) for i, s in enumerate(states)}
    high = {s: np.asarray(model.from_internal(s, highs[:, i]), float) for i, s in enumerate(states)}
    specials = [
        CyclePoint(
            type=pt.special,
            param=float(shown_lam[i]),
            period=float(period[i]),
            min={s: float(low[s][i]) for s in states},
            max={s: float(high[s][i]) for s in states},
            multipliers=mus[i],
            index=i,
            _orbit=internal[i],
        )
        for i, pt in enumerate(points)
        if pt.special
    ]
    units = {name: model.display_unit(name) for name in (param,) + tuple(states)}
    return CycleBranch(
        model=model.name,
        param=param,
        units=units,
        param_values=shown_lam,
        period=period,
        min=low,
        max=high,
        multipliers=mus,
        stable=stable,
        special_points=specials,
        status=status,
        end_param=end_param,
        _orbits=orbits,
        _context=context,
    )
