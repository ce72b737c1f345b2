"""Phase response curves of a periodically firing model: by direct perturbation and by the
adjoint method.

Phase ``phi`` in [0, 1) runs along the periodic orbit from the upward crossing of the
model's threshold relation (``V > 0*mV``: the spike) with period ``T``.  The *infinitesimal* PRC of a state ``var`` is ``Z_var(phi)``: the time by which the
next spikes are advanced by a small instantaneous kick ``dvar`` at phase ``phi``, per unit
kick (``ms / mV`` for a voltage; the phase advance, as a fraction of the cycle, is
``Z dvar / T``).  A kick ``dV`` is what a brief current pulse of charge ``C dV`` does.

* :func:`periodic_orbit` finds the stable orbit by simulation (:func:`biosnn.simulate`,
  dop853 at tight tolerances, compiled): transients until the inter-spike interval is
  stationary, a run to the next spike (phase 0), one period recorded on a fine grid.
* :func:`adjoint_prc` integrates the adjoint equation ``dZ/dt = -J(x(t))^T Z`` (``J``
  the model's exact symbolic Jacobian, evaluated on the whole grid in one vectorized
  call; classical RK4 over pairs of grid intervals) *backward* over several periods, on
  which every other solution decays, and normalises ``Z . f(x) = 1`` (Ermentrout & Kopell 1991;
  Ermentrout & Terman, *Mathematical Foundations of Neuroscience*, ch. 8; XPPAUT's
  adjoint).  ``Z . f`` is constant along the orbit for an exact adjoint; its spread is
  returned as ``normalisation_error``.
* :func:`direct_prc` starts ``2 n`` instances on the orbit at ``n`` phases, kicked by
  ``+eps`` and ``-eps`` in ``var``, in ONE vectorized simulation, and takes the central
  difference of the spike times a few cycles later:
  ``Z(phi) = (t_-  - t_+) / (2 eps)`` (second-order accurate in ``eps``).

Both return a :class:`PRC`; for a smooth model they agree to the kick's second order.
Models with a reset (integrate-and-fire) are refused: their orbit is not smooth.

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import adjoint_prc
>>> sl = biosnn.Model('''
...     dx/dt = lam*x*(1 - x**2 - y**2) - omega*y : 1
...     dy/dt = lam*y*(1 - x**2 - y**2) + omega*x : 1
...     ''', params={"lam": "1", "omega": "1"}, init={"x": "1", "y": "0"},
...     threshold="x > 0", name="stuart_landau")
>>> prc = adjoint_prc(sl, var="x", n_phases=4)
>>> round(prc.period, 6), [round(float(z), 6) + 0.0 for z in prc.Z]   # cos(2 pi phi)/omega
(6.283185, [1.0, 0.0, -1.0, 0.0])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis._system import System
from biosnn.analysis.options import SOLVER_DEFAULTS
from biosnn.equations.files import as_model
from biosnn.errors import BiosnnError
from biosnn.solvers.options import merge
from biosnn.units import parse_time

__all__ = ["PRC", "PeriodicOrbit", "adjoint_prc", "direct_prc", "periodic_orbit"]


@dataclass(frozen=True)
class PeriodicOrbit:
    """A periodic orbit found by simulation (internal units).

    Attributes
    ----------
    period : float
        ms (or time units).
    t : ndarray (M + 1,)
        Uniform grid over ``[0, period]``.
    x : ndarray (n, M + 1)
        States on the grid (internal units); ``x[:, 0]`` is at the spike (phase 0).
    fx : ndarray (n, M + 1)
        Drift on the grid.
    system : System
        The model bound to its parameters.
    closure : float
        ``max |x(T) - x(0)|`` relative to the orbit's extent per state.
    """

    period: float
    t: np.ndarray
    x: np.ndarray
    fx: np.ndarray
    system: System
    closure: float

    @property
    def x0(self) -> np.ndarray:
        return self.x[:, 0].copy()

    def solution(self, t) -> np.ndarray:
        """States at times ``t`` (taken modulo the period): cubic Hermite interpolation
        of the grid with the exact drift as slopes; shape (n, len(t)).
        """
        t = np.mod(np.atleast_1d(np.asarray(t, float)), self.period)
        h = self.t[1] - self.t[0]
        k = np.minimum((t / h).astype(int), self.t.size - 2)
        s = (t - self.t[k]) / h
        h00, h10 = (1 + 2 * s) * (1 - s) ** 2, s * (1 - s) ** 2
        h01, h11 = s * s * (3 - 2 * s), s * s * (s - 1)
        return (
            h00 * self.x[:, k]
            + h10 * h * self.fx[:, k]
            + h01 * self.x[:, k + 1]
            + h11 * h * self.fx[:, k + 1]
        )

    def states_at(self, phases) -> np.ndarray:
        """States (internal units) at ``phases`` in [0, 1): shape (n, len(phases))."""
        return self.solution(np.mod(np.asarray(phases, float), 1.0) * self.period)


@dataclass(frozen=True)
class PRC:
    """An infinitesimal phase response curve ``Z_var(phase)``.

    Attributes
    ----------
    model, var : str
        Model name and the kicked state.
    method : str
        ``"adjoint"`` or ``"direct"``.
    phases : ndarray (K,)
        In [0, 1), from the spike (upward crossing of the threshold).
    Z : ndarray (K,)
        Advance of the spikes per unit kick (time unit / display unit of ``var``).
    period : float
        Period of the orbit (ms or time units).
    unit : str
        Unit of ``Z`` (``"ms/mV"``, ...).
    normalisation_error : float or None
        Adjoint only: ``max |Z . f - 1|`` over the orbit.
    """

    model: str
    var: str
    method: str
    phases: np.ndarray
    Z: np.ndarray
    period: float
    unit: str
    normalisation_error: float | None = None
    extra: dict = field(default_factory=dict)

    def __call__(self, phase):
        """``Z`` at any phase (periodic linear interpolation)."""
        ph = np.concatenate([self.phases - 1, self.phases, self.phases + 1])
        return np.interp(np.mod(phase, 1.0), ph, np.tile(self.Z, 3))

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "model": self.model,
            "var": self.var,
            "method": self.method,
            "period": float(self.period),
            "unit": self.unit,
            "phases": self.phases.tolist(),
            "Z": self.Z.tolist(),
            "normalisation_error": self.normalisation_error,
        }

    def plot(self, ax=None, style="-", label=None, **kw):
        """``Z`` against the phase.  Returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.phases, self.Z, style, label=label or f"{self.model} ({self.method})", **kw)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel("phase (from the spike)")
        ax.set_ylabel(f"Z_{self.var} ({self.unit})")
        ax.legend(frameon=False)
        return ax


def _check_threshold(model):
    spec = model.kernel_spec()
    if spec.crossing is None:
        raise BiosnnError(
            f"model {model.name} has no threshold relation (such as "
            "'V > 0*mV'): phase 0 is its upward crossing; give the model one"
        )
    if spec.reset or spec.refractory_time is not None or spec.refractory_condition is not None:
        raise BiosnnError(
            f"model {model.name} has a reset or refractoriness: its orbit is "
            "not smooth, and these PRCs (adjoint, kicks on a smooth orbit) "
            "need a smooth oscillator"
        )
    return model


def _simulate(model, duration, params, init, opts, n=1, record_dt=None):
    import biosnn

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*threshold condition already true.*")
        return biosnn.simulate(
            model,
            duration,
            **opts.simulate_kwargs(),
            n=n,
            params=params,
            init=init,
            record=[] if record_dt is None else None,
            record_dt=duration if record_dt is None else record_dt,
        )


def periodic_orbit(
    model,
    params=None,
    *,
    init=None,
    transient=None,
    grid: int = 4096,
    options=None,
    rtol: float | None = None,
    atol: float | None = None,
    max_rounds: int = 20,
    backend: str | None = None,
) -> PeriodicOrbit:
    """The stable periodic orbit reached from ``init`` (or the initial state).

    Everything runs on :func:`biosnn.simulate` (by default dop853 at ``rtol=1e-10``,
    ``atol=1e-12``, compiled when a compiler works): a transient, repeated until the last two inter-spike
    intervals agree to ``1e-8``; then a run to the next spike (phase 0)
    and one period recorded on a grid of ``grid`` intervals (dense output).

    Parameters
    ----------
    model : Model or str
    params, init : dict, optional
        Parameters and initial values (display units).
    transient : float, optional
        Length of each transient round (default 500 ms or time units).
    grid : int
        Grid intervals per period (even).
    options : SolverOptions, optional
        Solver settings (default ``analysis.options.SOLVER_DEFAULTS["periodic_orbit"]``:
        ``dop853``, ``rtol=1e-10``, ``atol=1e-12``; docs/options.md).  One period is
        recorded every ``period / grid`` from the dense output; a fixed-step method
        would need a ``dt`` that divides it.
    rtol, atol, backend : optional
        Override the fields of ``options`` (atol in internal units).
    max_rounds : int
        Transient rounds before giving up.

    Returns
    -------
    PeriodicOrbit
    """
    opts = merge(
        options,
        SOLVER_DEFAULTS["periodic_orbit"],
        "periodic_orbit",
        rtol=rtol,
        atol=atol,
        backend=backend,
    )
    model = _check_threshold(as_model(model))
    system = System(model, params)
    states = system.spec.states
    transient = 500.0 if transient is None else parse_time(transient, "transient", model=model)
    y = dict(init or {})
    for _ in range(max_rounds):
        res = _simulate(model, transient, params, y or None, opts)
        y = {k: float(v[0]) for k, v in res.final_state.items()}
        s = res.spikes[0]
        if s.size >= 3:
            isi = np.diff(s)
            if abs(isi[-1] - isi[-2]) <= 1e-8 * isi[-1]:
                break
    else:
        raise BiosnnError(
            f"{model.name}: no steady periodic firing (the last inter-spike "
            f"intervals did not settle in {max_rounds} x {transient:g}; "
            "does the model oscillate at these parameters?)"
        )
    period = float(isi[-1])
    to_next = float(s[-1] + period - transient)
    while to_next <= 1e-9 * period:
        to_next += period
    y = {k: float(v[0]) for k, v in _simulate(model, to_next, params, y, opts).final_state.items()}
    grid = int(grid) + int(grid) % 2
    res = _simulate(model, period * (1 + 0.5 / grid), params, y, opts, record_dt=period / grid)
    x = np.array([model.to_internal(k, res[k][0]) for k in states], float)[:, : grid + 1]
    t = np.arange(grid + 1) * (period / grid)
    extent = np.ptp(x, axis=1) + 1e-300
    closure = float(np.max(np.abs(x[:, -1] - x[:, 0]) / extent))
    return PeriodicOrbit(period=period, t=t, x=x, fx=system.f(x), system=system, closure=closure)


def _var_index(model, system, var):
    if var is None:
        var = system.spec.states[0]
    if var not in system.spec.states:
        raise BiosnnError(
            f"{var!r} is not a state of {model.name} (states: {', '.join(system.spec.states)})"
        )
    return var, system.spec.states.index(var)


def _z_unit(model, var):
    t = "1" if model.time_unit == "1" else model.time_unit
    u = model.display_unit(var)
    if u == "1":
        return t
    return f"{t}/{u}" if t != "1" else f"1/{u}"


def adjoint_prc(
    model,
    params=None,
    *,
    var=None,
    n_phases: int = 200,
    phases=None,
    orbit=None,
    periods: int = 4,
    **orbit_kw,
) -> PRC:
    """Infinitesimal PRC by the adjoint method on the periodic orbit.

    Parameters
    ----------
    model : Model or str
    params : dict, optional
    var : str, optional
        The kicked state (default: the first state, e.g. V).
    n_phases : int
        Phases ``k / n_phases`` at which ``Z`` is returned.
    phases : array_like, optional
        Phases (in [0, 1)) instead (e.g. those of a :func:`direct_prc`).
    orbit : PeriodicOrbit, optional
        A precomputed orbit (else :func:`periodic_orbit` with ``orbit_kw``, which may
        hold its ``options``).
    periods : int
        Periods of backward integration (the other adjoint solutions decay like the
        orbit's Floquet multipliers, per period).

    Returns
    -------
    PRC
    """
    model = as_model(model)
    if orbit is None:
        orbit = periodic_orbit(model, params, **orbit_kw)
    system, T = orbit.system, orbit.period
    var, i_var = _var_index(model, system, var)
    n = system.n

    A = -np.transpose(system.jac(orbit.x), (0, 2, 1))  # (M + 1, n, n)
    h = 2.0 * (orbit.t[1] - orbit.t[0])  # RK4 over two intervals
    M = orbit.t.size - 1
    fx0 = orbit.fx[:, 0]
    z = fx0 / (fx0 @ fx0)
    Zs = np.empty((n, M + 1))
    for _ in range(max(1, periods)):
        Zs[:, M] = z
        for k in range(M, 0, -2):  # backward: t_k -> t_k - h
            a0, a1, a2 = A[k], A[k - 1], A[k - 2]
            k1 = a0 @ z
            k2 = a1 @ (z - 0.5 * h * k1)
            k3 = a1 @ (z - 0.5 * h * k2)
            k4 = a2 @ (z - h * k3)
            z = z - h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            Zs[:, k - 2] = z
        z = z / (z @ fx0)  # keep the scale near 1
    even = slice(0, M + 1, 2)
    dots = np.einsum("ij,ij->j", Zs[:, even], orbit.fx[:, even])
    scale = dots[0]
    dots = dots / scale
    phases = (
        np.arange(n_phases) / n_phases if phases is None else np.mod(np.asarray(phases, float), 1.0)
    )
    Z_int = _periodic_spline(orbit.t[even], Zs[i_var, even] / scale)(phases * T)
    # internal -> display: Z per display unit = Z per internal unit * (internal / display)
    Z = Z_int * float(model.to_internal(var, 1.0))
    return PRC(
        model=model.name,
        var=var,
        method="adjoint",
        phases=phases,
        Z=Z,
        period=T,
        unit=_z_unit(model, var),
        normalisation_error=float(np.max(np.abs(dots - 1.0))),
        extra={"closure": orbit.closure},
    )


def direct_prc(
    model,
    params=None,
    *,
    var=None,
    n_phases: int = 50,
    kick=None,
    cycles: int = 3,
    orbit=None,
    options=None,
    method: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    dt=None,
    backend: str | None = None,
    **orbit_kw,
) -> PRC:
    """Infinitesimal PRC by direct perturbation, all phases in one vectorized simulation.

    ``2 * n_phases`` instances start on the orbit at phases ``(k + 1/2) / n_phases``, kicked
    by ``+kick`` and ``-kick`` in ``var``; ``Z = (t_- - t_+) / (2 kick)`` from the spike
    nearest to ``(1 - phase + cycles) T`` in each pair (after the orbit has relaxed for
    ``cycles`` periods).  Phase 0 is the model's threshold crossing (spikes), so the model
    needs a threshold.

    Parameters
    ----------
    model : Model or str
    params : dict, optional
    var : str, optional
        The kicked state (default: the first).
    n_phases : int
    kick : float, optional
        Size of the kick, display unit of ``var`` (default ``1e-4`` of the orbit's range
        of ``var``).
    cycles : int
        Periods between the kick and the measured spike.
    orbit : PeriodicOrbit, optional
        A precomputed orbit (else :func:`periodic_orbit` with ``orbit_kw``, at its own
        defaults: ``options`` are those of the kicked runs only).
    options : SolverOptions, optional
        Solver settings of the kicked runs (default
        ``analysis.options.SOLVER_DEFAULTS["direct_prc"]``: ``dop853``, ``rtol=1e-10``,
        ``atol=1e-12``; docs/options.md).
    method, rtol, atol, dt, backend : optional
        Override the fields of ``options``.

    Returns
    -------
    PRC
    """
    import biosnn

    opts = merge(
        options,
        SOLVER_DEFAULTS["direct_prc"],
        "direct_prc",
        method=method,
        rtol=rtol,
        atol=atol,
        dt=dt,
        backend=backend,
    )
    model = as_model(model)
    if model.kernel_spec().threshold is None:
        raise BiosnnError(f"model {model.name} has no threshold: the direct PRC times spikes")
    if orbit is None:
        orbit = periodic_orbit(model, params, **orbit_kw)
    system, T = orbit.system, orbit.period
    var, i_var = _var_index(model, system, var)
    phases = (np.arange(n_phases) + 0.5) / n_phases
    x = orbit.states_at(phases)  # internal (n, K)
    if kick is None:
        vals = orbit.solution(np.linspace(0, T, 401))[i_var]
        kick = 1e-4 * float(model.from_internal(var, np.ptp(vals)))
    kick_int = float(model.to_internal(var, kick))
    init = {}
    for i, s in enumerate(system.spec.states):
        row = np.concatenate([x[i], x[i]])
        if i == i_var:
            row = row + np.concatenate([np.full(n_phases, kick_int), np.full(n_phases, -kick_int)])
        init[s] = np.asarray(model.from_internal(s, row), float)
    duration = (cycles + 2) * T
    kw = dict(record=[], record_dt=duration, **opts.simulate_kwargs())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*threshold condition already true.*")
        res = biosnn.simulate(model, duration, n=2 * n_phases, params=params, init=init, **kw)
    expected = np.concatenate([(1 - phases + cycles) * T] * 2)
    t_spike = np.empty(2 * n_phases)
    for j, s in enumerate(res.spikes):
        if len(s) == 0:
            raise BiosnnError(
                f"{model.name}: an instance stopped firing after the kick (kick {kick} too large?)"
            )
        t_spike[j] = s[np.argmin(np.abs(np.asarray(s) - expected[j]))]
    Z = (t_spike[n_phases:] - t_spike[:n_phases]) / (2.0 * kick)
    return PRC(
        model=model.name,
        var=var,
        method="direct",
        phases=phases,
        Z=Z,
        period=T,
        unit=_z_unit(model, var),
        extra={"kick": kick, "cycles": cycles},
    )


def _periodic_spline(t, z):
    from scipy.interpolate import CubicSpline

    z = np.asarray(z, float).copy()
    z[-1] = z[0]
    return CubicSpline(t, z, bc_type="periodic")
