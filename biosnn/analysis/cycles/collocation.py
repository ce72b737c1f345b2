"""Orthogonal collocation of periodic orbits: mesh, Lagrange basis, the Newton system.

The discretised boundary-value problem of :func:`~biosnn.analysis.cycles.continue_cycles`
(see :mod:`biosnn.analysis.cycles` for the method and its references): piecewise
polynomials on a mesh of ``[0, 1]`` (:func:`_lagrange`, :func:`_evaluate`,
:func:`_node_times`), the residual and exact Jacobian at the Gauss-Legendre points
(:class:`_Collocation`), and the Newton matrix condensed onto the mesh points, whose
blocks also give the monodromy matrix (:class:`_Condensed`).
"""

from __future__ import annotations

import numpy as np


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


def _node_times(coll):
    base = np.linspace(0, 1, coll.ncol + 1)
    s = (coll.mesh[:-1, None] + coll.h[:, None] * base[None, :])[:, :-1].ravel()
    return np.append(s, 1.0)
