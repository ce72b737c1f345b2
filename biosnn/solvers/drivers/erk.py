"""The explicit Runge-Kutta step of the adaptive drivers: error estimate and dense output.

:class:`_ERKStep` runs any checked tableau (:mod:`biosnn.solvers.tableaux`) on all
unfinished instances at once; :func:`_unrolled_stages` prints a tableau's stages as one
scalar function (one instance: also the fixed-step rk stepper); :func:`_dense_eval`
evaluates the dense output of a step.
"""

from __future__ import annotations

import math

import numpy as np

from biosnn.solvers.drivers.problem import Problem


class _ERKStep:
    """One attempt of an embedded explicit RK method for a set of instances.

    Increments ``K[i] = h*k_i`` live in one array ``K`` of shape (s_total, n_states, m), so
    every stage combination is one matrix product.
    """

    def __init__(self, prob: Problem, tableau):
        self.prob, self.tab = prob, tableau
        self.order = tableau.error_exponent_order
        self.s = tableau.n_stages
        self.new_point = tableau.new_point_stage
        self.rows = [tableau.A[i, :i].copy() for i in range(tableau.n_stages_total)]
        self.dense = tableau.dense

        def nz(w):
            return [(m, float(a)) for m, a in enumerate(w) if a != 0.0]

        self._unrolled = None
        self.rows_list = [nz(r) for r in self.rows]
        self.b_list = nz(tableau.b)
        self.err_list = nz(tableau.b_err)
        self.low_list = nz(tableau.b_err_low) if tableau.b_err_low is not None else []

    def attempt(self, t, h, y, idx, refr, k0):
        """Stages of the step: returns ``(y_new, err_norm, K)``.

        ``k0`` is f(t, y) (FSAL reuse) or None.
        """
        if y.shape[1] == 1 and self.prob.scalar_ok(refr):
            return self._attempt_one(t, h, y, idx, k0)
        prob, tab = self.prob, self.tab
        rtol, atol = prob.request.rtol, prob.request.atol
        ns, m = y.shape
        K = np.empty((tab.n_stages_total, ns, m))
        Kf = K.reshape(tab.n_stages_total, ns * m)
        K[0] = h * (k0 if k0 is not None else prob.f(t, y, idx, refr, t))
        c = tab.c
        for i in range(1, self.s):
            yi = y + (self.rows[i] @ Kf[:i]).reshape(ns, m)
            K[i] = h * prob.f(t + c[i] * h, yi, idx, refr, t)
        s = self.s
        y_new = y + (tab.b @ Kf[:s]).reshape(ns, m)
        scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err = (tab.b_err @ Kf[:s]).reshape(ns, m) / scale
        e5 = np.einsum("ij,ij->j", err, err)
        if tab.b_err_low is None:
            norm = np.sqrt(e5 / ns)
        else:
            err3 = (tab.b_err_low @ Kf[:s]).reshape(ns, m) / scale
            e3 = np.einsum("ij,ij->j", err3, err3)
            den = e5 + 0.01 * e3
            norm = np.where(den > 0, e5 / np.sqrt(ns * np.where(den > 0, den, 1.0)), 0.0)
        if not np.isfinite(y_new).all():
            norm = np.where(np.isfinite(y_new).all(axis=0), norm, np.inf)
        self.filled = s
        return y_new, norm, K

    def _attempt_one(self, t, h, y, idx, k0):
        """The same step for one instance on Python floats (``kernel.f1``).

        The stage combinations are unrolled once per tableau into a small Python function
        (:func:`_unrolled_stages`, printed from the tableau's numbers).
        """
        prob, tab = self.prob, self.tab
        ns = y.shape[0]
        if self._unrolled is None:
            self._unrolled = _unrolled_stages(tab)
        tt, hh = float(t[0]), float(h[0])
        y0 = y[:, 0].tolist()
        yn, err, low, Ks = self._unrolled(
            prob.f_one, tt, hh, y0, None if k0 is None else k0[:, 0].tolist(), idx
        )
        rtol, atol = prob.request.rtol, prob.request.atol
        sc = [atol + rtol * max(abs(a), abs(b)) for a, b in zip(y0, yn, strict=True)]
        e5 = sum((e / c) ** 2 for e, c in zip(err, sc, strict=True))
        if low is None:
            norm = math.sqrt(e5 / ns)
        else:
            den = e5 + 0.01 * sum((e / c) ** 2 for e, c in zip(low, sc, strict=True))
            norm = e5 / math.sqrt(ns * den) if den > 0 else 0.0
        K = np.zeros((tab.n_stages_total, ns, 1))
        K[: self.s, :, 0] = Ks
        y_new = np.array(yn, dtype=float).reshape(ns, 1)
        if not (math.isfinite(norm) and np.isfinite(y_new).all()):
            norm = math.inf
        return y_new, np.array([norm]), K

    def finish(self, t, h, y, y_new, idx, refr, K):
        """After acceptance: f(t + h, y_new) (the next k0), from the new-point stage."""
        i = self.new_point
        if i is None:
            return self.prob.f(t + h, y_new, idx, refr, t)
        if i >= self.s:
            K[i] = h * self.prob.f(t + h, y_new, idx, refr, t)
        return K[i] / h

    def dense_increments(self, t, h, y, idx, refr, K):
        """Complete the extra stages (DOP853) in place."""
        tab, prob = self.tab, self.prob
        start = self.s + (1 if self.new_point == self.s else 0)
        for i in range(start, tab.n_stages_total):
            # K may be a non-contiguous selection: combine on K itself, never on a reshape
            yi = y + np.tensordot(self.rows[i], K[:i], axes=1)
            K[i] = h * prob.f(t + tab.c[i] * h, yi, idx, refr, t)
        return K


def _unrolled_stages(tab):
    """A Python function computing one step of ``tab`` on lists of floats.

    ``fun(f1, t, h, y0, k0, idx) -> (y1, err, err_low or None, [h*k_0, ..., h*k_{s-1}])``;
    the source is printed from the tableau's coefficients (``repr`` of each float), so the
    arithmetic is that of the tableau, term by term.
    """

    def comb(weights, base):
        terms = [(m, repr(float(w))) for m, w in enumerate(weights) if w != 0.0]
        names = [f"k{m}" for m, _ in terms]
        expr = " + ".join(f"{w}*k{m}" for m, w in terms) or "0.0"
        if base:
            return (
                (
                    f"[y + ({expr}) for y, {', '.join(names)} in zip(y0, "
                    f"{', '.join(f'K{m}' for m, _ in terms)})]"
                )
                if terms
                else "list(y0)"
            )
        if not terms:
            return "[0.0]*len(y0)"
        return (
            f"[{expr} for {', '.join(names)}{',' if len(names) == 1 else ''} in "
            f"zip({', '.join(f'K{m}' for m, _ in terms)})]"
        )

    lines = [
        "def _stages(f1, t, h, y0, k0, idx):",
        "    if k0 is None:",
        "        k0 = f1(t, y0, t, idx)",
        "    K0 = [h*v for v in k0]",
    ]
    for i in range(1, tab.n_stages):
        lines.append(
            f"    K{i} = [h*v for v in f1(t + {float(tab.c[i])!r}*h, "
            f"{comb(tab.A[i, :i], True)}, t, idx)]"
        )
    lines.append(f"    y1 = {comb(tab.b, True)}")
    lines.append(f"    err = {comb(tab.b_err, False) if tab.b_err is not None else 'None'}")
    low = comb(tab.b_err_low, False) if tab.b_err_low is not None else "None"
    lines.append(f"    low = {low}")
    lines.append(f"    return y1, err, low, [{', '.join(f'K{i}' for i in range(tab.n_stages))}]")
    source = "\n".join(lines) + "\n"
    namespace: dict = {}
    exec(compile(source, f"<biosnn stages {tab.name}>", "exec"), namespace)  # noqa: S102
    fun = namespace["_stages"]
    fun.source = source
    return fun


def _dense_eval(dense, y0, K, theta):
    """y0 + sum_i K_i * b_i(theta): y0 (ns, m), K (s_total, ns, m), theta (m,)."""
    powers = theta[None, :] ** np.arange(1, dense.shape[1] + 1)[:, None]  # (q, m)
    w = dense @ powers  # (s_total, m)
    return y0 + np.einsum("sm,sim->im", w, K)
