"""The Rosenbrock step of the stiff driver (``rodas4``), with its dense output."""

from __future__ import annotations

import numpy as np

from biosnn.solvers.drivers.problem import Problem


class _RosenbrockStep:
    """One attempt of a Rosenbrock method (Hairer & Wanner's form, see tableaux)."""

    def __init__(self, prob: Problem, tableau):
        self.prob, self.tab = prob, tableau
        self.order = tableau.error_exponent_order
        self._jac_cache = None

    def attempt(self, t, h, y, idx, refr, k0):
        prob, tab = self.prob, self.tab
        rtol, atol = prob.request.rtol, prob.request.atol
        f0 = k0 if k0 is not None else prob.f(t, y, idx, refr, t)
        J, ft = self._jacobian(t, y, idx, refr)
        m, ns = y.shape[1], y.shape[0]
        W = np.eye(ns)[None, :, :] / (tab.gamma * h)[:, None, None] - J
        # W is small and dense: invert it once per attempt, then one product per stage
        try:
            Winv = np.linalg.inv(W)
        except np.linalg.LinAlgError:  # singular iteration matrix: reject, smaller step
            return y.copy(), np.full(m, np.inf), np.zeros((tab.n_stages, ns, m))
        if m == 1:
            W1 = Winv[0]

            def solve(rhs):
                return W1 @ rhs
        else:

            def solve(rhs):
                return np.einsum("mij,jm->im", Winv, rhs)

        U = np.empty((tab.n_stages, ns, m))
        Uf = U.reshape(tab.n_stages, ns * m)
        for i in range(tab.n_stages):
            if i == 0:
                fi = f0
            else:
                yi = y + (tab.a[i, :i] @ Uf[:i]).reshape(ns, m)
                fi = prob.f(t + tab.c[i] * h, yi, idx, refr, t)
            rhs = fi + (h * tab.d[i]) * ft
            if i:
                rhs = rhs + (tab.C[i, :i] @ Uf[:i]).reshape(ns, m) / h
            U[i] = solve(rhs)
        y_new = y + (tab.m @ Uf).reshape(ns, m)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err = (tab.m_err @ Uf).reshape(ns, m) / scale
        norm = np.sqrt(np.mean(err * err, axis=0))
        norm = np.where(np.isfinite(y_new).all(axis=0), norm, np.inf)
        return y_new, norm, U

    def _jacobian(self, t, y, idx, refr):
        key = (
            np.asarray(t).tobytes(),
            y.tobytes(),
            None if idx is None else idx.tobytes(),
            None if refr is None else refr.tobytes(),
        )
        if self._jac_cache is not None and self._jac_cache[0] == key:
            return self._jac_cache[1]
        J = self.prob.jac(t, y, idx, refr, t)
        ft = self.prob.dfdt(t, y, idx, refr, t)
        self._jac_cache = (key, (J, ft))
        return J, ft

    def finish(self, t, h, y, y_new, idx, refr, U):
        return self.prob.f(t + h, y_new, idx, refr, t)

    def dense_increments(self, t, h, y, idx, refr, U):
        return U

    @property
    def dense(self):
        return self.tab.dense
