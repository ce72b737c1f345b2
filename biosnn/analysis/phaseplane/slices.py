"""The 2-D slice of a model: its flow on the plane of two states, and the window.

:class:`_Slice` holds the other states fixed or slaved to their steady state and gives the
flow and its exact Jacobian (internal and display units); :class:`_Window` maps the window
to normalised coordinates; :func:`_check_vars` checks the states of a slice,
:func:`_fixed_report` describes its other states, :func:`_vector_field` samples its flow.
"""

from __future__ import annotations

import numpy as np

from biosnn.errors import ModelError


class _Slice:
    """The flow of a model on the plane of states ``x``, ``y`` (others fixed or slaved).

    Points are arrays of shape (2, N) in display units; ``rhs`` and ``jac`` are in internal
    units (``f`` and ``df/dy`` of the model), ``velocity`` and ``jac_display`` in display
    units per unit of model time.
    """

    def __init__(self, model, x: str, y: str, fixed: dict):
        from biosnn.solvers.simulate import numpy_kernel

        spec = model.kernel_spec()
        if any(spec.t in e.free_symbols for e in spec.f):
            raise ModelError(
                f"model {model.name} depends on t explicitly; a phase plane "
                "needs an autonomous model"
            )
        self.kernel = numpy_kernel(spec)
        names = list(spec.states)
        self.ix, self.iy = names.index(x), names.index(y)
        self.plane = [self.ix, self.iy]
        self.p = np.array([float(model.to_internal(k, model.params[k])) for k in spec.params])
        self.p = self.p.reshape(-1, 1)
        self.scale = np.array([float(model.to_internal(x, 1.0)), float(model.to_internal(y, 1.0))])
        base = model.initial_state({k: self.p[i, 0] for i, k in enumerate(spec.params)})
        self.base = np.array([float(base[s]) for s in names])
        self.slaved = []
        for name, value in fixed.items():
            i = names.index(name)
            if isinstance(value, str) and value.strip() == "steady":
                self.slaved.append(i)
            else:
                self.base[i] = float(model.to_internal(name, value))
        self.names = names
        self.closed_form = self._closed_form_slaved(spec)

    def _closed_form_slaved(self, spec) -> bool:
        """Whether every slaved state solves as ``-B/A`` (``f_i = A_i y_i + B_i``, gates).

        True when each slaved equation is linear in its own state and its ``A``, ``B`` do
        not involve the other slaved states; then one kernel call gives the steady state.
        """
        if not self.slaved or not spec.exp_euler:
            return False
        slaved = {spec.states[i] for i in self.slaved}
        for i in self.slaved:
            ab = spec.exp_euler[i]
            if ab is None:
                return False
            names = {s.name for e in ab for s in e.free_symbols}
            if names & slaved:
                return False
        return True

    def full_state(self, xy: np.ndarray) -> np.ndarray:
        """States (n_states, N), internal units, with slaved states solved."""
        xy = np.asarray(xy, dtype=float).reshape(2, -1)
        ys = np.repeat(self.base[:, None], xy.shape[1], axis=1)
        ys[self.ix] = xy[0] * self.scale[0]
        ys[self.iy] = xy[1] * self.scale[1]
        if self.slaved:
            self._solve_slaved(ys)
        return ys

    def _solve_slaved(self, ys: np.ndarray) -> None:
        s = self.slaved
        with np.errstate(all="ignore"):
            if self.closed_form:
                a, b = self.kernel.exp_euler_AB(0.0, ys, self.p)
                ys[s] = -b[s] / a[s]
                return
            for _ in range(50):
                f = self.kernel.f(0.0, ys, self.p)[s]  # (k, N)
                jss = self.kernel.jac(0.0, ys, self.p)[:, s][:, :, s]  # (N, k, k)
                step = np.linalg.solve(jss, f.T[:, :, None])[:, :, 0].T
                ys[s] -= step
                if not np.any(np.abs(step) > 1e-13 * (1 + np.abs(ys[s]))):
                    break

    def rhs(self, xy) -> np.ndarray:
        """``(f_x, f_y)``, internal units, shape (2, N)."""
        with np.errstate(all="ignore"):
            return self.kernel.f(0.0, self.full_state(xy), self.p)[self.plane]

    def jac(self, xy) -> np.ndarray:
        """Jacobian of ``(f_x, f_y)`` w.r.t. internal ``(x, y)``, shape (N, 2, 2)."""
        with np.errstate(all="ignore"):
            full = self.kernel.jac(0.0, self.full_state(xy), self.p)
            a = full[:, self.plane][:, :, self.plane]
            if not self.slaved:
                return a
            s = self.slaved
            b, c, d = (
                full[:, self.plane][:, :, s],
                full[:, s][:, :, self.plane],
                full[:, s][:, :, s],
            )
            return a - b @ np.linalg.solve(d, c)

    def velocity(self, xy) -> np.ndarray:
        """``(dx/dt, dy/dt)`` in display units, shape (2, N)."""
        return self.rhs(xy) / self.scale[:, None]

    def jac_display(self, xy) -> np.ndarray:
        """Jacobian of the display-unit velocity w.r.t. display ``(x, y)``: (N, 2, 2)."""
        return self.jac(xy) * self.scale[None, None, :] / self.scale[None, :, None]

    def divergence(self, xy) -> np.ndarray:
        """Trace of the Jacobian (1/time), shape (N,)."""
        return np.trace(self.jac(xy), axis1=1, axis2=2)


class _Window:
    """The window and its normalised coordinates ``u = (p - lo) / size`` in [0, 1]^2."""

    def __init__(self, xlim, ylim, grid: int):
        self.lo = np.array([xlim[0], ylim[0]], dtype=float)
        self.size = np.array([xlim[1] - xlim[0], ylim[1] - ylim[0]], dtype=float)
        self.grid = grid
        self.cell = 1.0 / (grid - 1)

    def to_u(self, pts):
        return (np.asarray(pts, float) - self.lo) / self.size

    def to_xy(self, u):
        return self.lo + np.asarray(u, float) * self.size

    def inside(self, pts, margin: float = 0.0):
        u = self.to_u(pts)
        return np.all((u >= -margin) & (u <= 1 + margin), axis=-1)


def _check_vars(model, x, y, fixed) -> dict:
    for name in (x, y):
        if name not in model.states:
            raise ModelError(
                f"{name!r} is not a state of model {model.name} (states: {', '.join(model.states)})"
            )
    if x == y:
        raise ModelError(f"x and y must be two different states, both are {x!r}")
    fixed = dict(fixed or {})
    for name in fixed:
        if name not in model.states or name in (x, y):
            raise ModelError(
                f"fixed: {name!r} is not one of the other states of model "
                f"{model.name} ({', '.join(s for s in model.states if s not in (x, y)) or 'none'})"
            )
    return fixed


def _fixed_report(model, sl, fixed):
    out = {}
    for k, name in enumerate(sl.names):
        if k in sl.plane:
            continue
        out[name] = "steady" if k in sl.slaved else float(model.from_internal(name, sl.base[k]))
    return out


def _vector_field(sl, win, arrows):
    xs = win.lo[0] + win.size[0] * np.linspace(0, 1, arrows)
    ys = win.lo[1] + win.size[1] * np.linspace(0, 1, arrows)
    xx, yy = np.meshgrid(xs, ys)
    v = sl.velocity(np.stack([xx.ravel(), yy.ravel()]))
    return xx, yy, v[0].reshape(xx.shape), v[1].reshape(xx.shape)
