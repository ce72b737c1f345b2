"""Equilibria of a Model: Newton on the exact Jacobian, eigenvalues and type.

:func:`find_equilibria` seeds a vectorized damped Newton iteration (on the model's NumPy
kernel and its exact symbolic Jacobian) from the user's guesses, the model's initial state
and a grid over a box of state space, keeps the seeds that converge, and de-duplicates them.
Each :class:`Equilibrium` carries its state (display units), the eigenvalues of the Jacobian
(per ms, or per time unit for dimensionless models) and a type from :func:`classify`:

* two states: ``"stable node"``, ``"unstable node"``, ``"stable focus"``,
  ``"unstable focus"``, ``"saddle"``, ``"centre"`` (linear centre: purely imaginary pair)
  or ``"degenerate"`` (a zero eigenvalue);
* one state: ``"stable"``, ``"unstable"`` or ``"degenerate"``;
* more states: ``"stable"``, ``"unstable"`` (with the counts ``n_unstable``,
  ``n_stable``), ``"centre"`` (no unstable eigenvalue, a purely imaginary pair) or
  ``"degenerate"``.

Events (threshold, reset) and noise are ignored: these are equilibria of the drift, e.g.
the Izhikevich model "without reset".  Time-dependent right-hand sides are refused.

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import find_equilibria
>>> fhn = biosnn.load_model("fitzhugh_nagumo")
>>> [(round(e.state["v"], 4), e.type) for e in find_equilibria(fhn)]
[(-1.1994, 'stable focus')]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biosnn.analysis._system import System
from biosnn.equations.files import as_model

__all__ = ["Equilibrium", "classify", "find_equilibria", "newton"]

#: An eigenvalue counts as zero (or a real part as zero) below this, relative to the
#: largest eigenvalue modulus (and absolutely below ``ZERO_TOL`` as well).
ZERO_TOL = 1e-9


@dataclass(frozen=True)
class Equilibrium:
    """One equilibrium of a model.

    Attributes
    ----------
    state : dict
        state name -> value in its display unit.
    eigenvalues : ndarray of complex
        Eigenvalues of the Jacobian, sorted by decreasing real part (1/ms, or 1/time unit).
    type : str
        See :func:`classify`.
    stable : bool
        True when every eigenvalue has a negative real part.
    n_unstable, n_stable : int
        Number of eigenvalues with positive / negative real part.
    params : dict
        The parameter values used (display units).
    residual : float
        ``max |f|`` at the returned state (internal units).
    """

    state: dict
    eigenvalues: np.ndarray
    type: str
    stable: bool
    n_unstable: int
    n_stable: int
    params: dict = field(default_factory=dict)
    residual: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict (eigenvalues as ``[re, im]`` pairs)."""
        return {
            "state": {k: float(v) for k, v in self.state.items()},
            "type": self.type,
            "stable": bool(self.stable),
            "n_unstable": int(self.n_unstable),
            "n_stable": int(self.n_stable),
            "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues],
            "params": {k: float(v) for k, v in self.params.items()},
            "residual": float(self.residual),
        }


def _zero_tol(eigenvalues) -> float:
    scale = float(np.max(np.abs(eigenvalues))) if len(eigenvalues) else 0.0
    return ZERO_TOL * max(1.0, scale)


def classify(eigenvalues, tol: float | None = None) -> str:
    """The type of an equilibrium from the eigenvalues of its Jacobian.

    Parameters
    ----------
    eigenvalues : array_like of complex
    tol : float, optional
        Real parts (and eigenvalues) smaller than this in modulus count as zero; default
        ``ZERO_TOL * max(1, max |eigenvalue|)``.

    Returns
    -------
    str
        See the module docstring.

    Examples
    --------
    >>> from biosnn.analysis import classify
    >>> classify([-1, -2]), classify([1, -2]), classify([-1+2j, -1-2j]), classify([2j, -2j])
    ('stable node', 'saddle', 'stable focus', 'centre')
    >>> classify([-1, -1+1j, -1-1j]), classify([0.5, -1+1j, -1-1j])
    ('stable', 'unstable')
    """
    ev = np.asarray(eigenvalues, dtype=complex).ravel()
    tol = _zero_tol(ev) if tol is None else tol
    if np.any(np.abs(ev) <= tol):
        return "degenerate"
    re = ev.real
    n_pos, n_neg = int(np.sum(re > tol)), int(np.sum(re < -tol))
    n_centre = ev.size - n_pos - n_neg
    if ev.size == 2:
        if n_centre == 2:
            return "centre"
        if n_pos == 1 and n_neg == 1:
            return "saddle"
        if n_centre:
            return "degenerate"
        kind = "focus" if np.any(np.abs(ev.imag) > tol) else "node"
        return f"{'stable' if n_neg == 2 else 'unstable'} {kind}"
    if n_pos:
        return "unstable"
    return "centre" if n_centre else "stable"


def _counts(eigenvalues) -> tuple:
    ev = np.asarray(eigenvalues, dtype=complex)
    tol = _zero_tol(ev)
    return int(np.sum(ev.real > tol)), int(np.sum(ev.real < -tol))


def sorted_eigenvalues(jacobian) -> np.ndarray:
    """Eigenvalues of one Jacobian sorted by decreasing real part, then imaginary part."""
    ev = np.linalg.eigvals(np.asarray(jacobian, dtype=float))
    return ev[np.lexsort((-ev.imag, -ev.real))]


def newton(system: System, y0, *, p=None, tol: float = 1e-10, max_iter: int = 60):
    """Damped Newton iteration on ``f(y) = 0``, vectorized over columns of ``y0``.

    Parameters
    ----------
    system : System
    y0 : ndarray, shape (n, N)
        Initial guesses (internal units).
    p : ndarray, optional
        Parameters (n_params, N or 1); default the system's.
    tol : float
        Converged when the Newton step is below ``tol * (1 + |y|)`` in every component
        and ``|f|`` is below ``sqrt(tol) * scale`` (scale: the drift at the guess).
    max_iter : int

    Returns
    -------
    y : ndarray (n, N)
    converged : ndarray of bool (N,)
    """
    y = np.array(y0, dtype=float, copy=True)
    n, cols = y.shape
    active = np.ones(cols, dtype=bool)
    converged = np.zeros(cols, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        pk = None if p is None else (p if p.shape[1] == 1 else p[:, idx])
        yk = y[:, idx]
        fk = system.f(yk, pk)
        jk = system.jac(yk, pk)
        ok = np.all(np.isfinite(fk), axis=0) & np.all(np.isfinite(jk), axis=(1, 2))
        step = np.full_like(yk, np.nan)
        if np.any(ok):
            step[:, ok] = _solve(jk[ok], -fk[:, ok])
        ok &= np.all(np.isfinite(step), axis=0)
        # damping: at most a large relative change per iteration
        size = np.max(np.abs(step) / (1.0 + np.abs(yk)), axis=0)
        factor = np.where(size > 10.0, 10.0 / np.where(size > 0, size, 1.0), 1.0)
        y[:, idx] = yk + step * np.where(ok, factor, 0.0)
        done = ok & (size < tol) & (factor == 1.0)
        converged[idx[done]] = True
        active[idx[done | ~ok]] = False
    return y, converged


def _solve(matrices, rhs) -> np.ndarray:
    """Solve a stack of linear systems: matrices (N, n, n), rhs (n, N) -> (n, N)."""
    out = np.full(rhs.shape, np.nan)
    try:
        return np.linalg.solve(matrices, rhs.T[..., None])[..., 0].T
    except np.linalg.LinAlgError:
        for k in range(matrices.shape[0]):
            try:
                out[:, k] = np.linalg.solve(matrices[k], rhs[:, k])
            except np.linalg.LinAlgError:
                pass  # a singular system keeps its NaN column: that seed does not converge
        return out


def _seeds(system: System, guesses, bounds, grid, p=None) -> np.ndarray:
    """Initial guesses (n, N), internal units: guesses, initial state, a grid.

    ``p`` (n_params, 1): the parameters the initial state is computed with (default the
    system's).
    """
    model, states = system.model, system.spec.states
    p = system.p if p is None else p
    cols = []
    for guess in guesses:
        cols.append(
            [float(model.to_internal(s, guess[s])) if s in guess else np.nan for s in states]
        )
    params = {k: float(p[i, 0]) for i, k in enumerate(system.spec.params)}
    try:
        init = model.initial_state(params)
        y_init = [float(init[s]) for s in states]
        cols.append(y_init)
    except Exception:  # an initial value that needs something we do not have
        y_init = [0.0] * len(states)
    cols = [[y_init[i] if np.isnan(c[i]) else c[i] for i in range(len(states))] for c in cols]
    boxes = []
    for i, s in enumerate(states):
        if bounds and s in bounds:
            lo, hi = (float(model.to_internal(s, b)) for b in bounds[s])
        else:
            x = y_init[i]
            lo, hi = x - 2 * abs(x) - 1.0, x + 2 * abs(x) + 1.0
        boxes.append(np.linspace(lo, hi, grid))
    mesh = np.meshgrid(*boxes, indexing="ij")
    grid_cols = np.stack([m.ravel() for m in mesh])
    return np.hstack([np.array(cols, dtype=float).T.reshape(len(states), -1), grid_cols])


def _default_grid(n: int) -> int:
    """Points per dimension of the seed grid: about 2000 seeds at most."""
    return max(2, min(41, int(2000 ** (1.0 / n))))


def _deduplicate(y: np.ndarray, scale: np.ndarray, tol: float) -> np.ndarray:
    kept = []
    for k in range(y.shape[1]):
        col = y[:, k]
        if not any(np.all(np.abs(col - y[:, j]) <= tol * scale) for j in kept):
            kept.append(k)
    return y[:, kept]


def equilibrium_from_state(system: System, y, params_display=None) -> Equilibrium:
    """Build an :class:`Equilibrium` from an internal state vector ``y`` (n,)."""
    y = np.asarray(y, dtype=float).reshape(-1, 1)
    ev = sorted_eigenvalues(system.jac(y)[0])
    n_unstable, n_stable = _counts(ev)
    model = system.model
    state = {s: float(model.from_internal(s, y[i, 0])) for i, s in enumerate(system.spec.states)}
    return Equilibrium(
        state=state,
        eigenvalues=ev,
        type=classify(ev),
        stable=n_stable == ev.size,
        n_unstable=n_unstable,
        n_stable=n_stable,
        params=dict(params_display or {}),
        residual=float(np.max(np.abs(system.f(y)))),
    )


def find_equilibria(
    model, params=None, *, guesses=None, bounds=None, grid=None, tol: float = 1e-10
) -> list:
    """All equilibria of ``model`` that Newton's method finds from a set of seeds.

    Parameters
    ----------
    model : Model or str
        A model or the name of a library model.
    params : dict, optional
        Parameter values (display units or strings with units); others take defaults.
    guesses : dict or list of dict, optional
        state -> value (display units) to start Newton from; missing states take their
        initial values.
    bounds : dict, optional
        state -> (low, high) (display units) of the box the seed grid covers; default, per
        state, ``x0 -/+ (2|x0| + 1)`` around the initial value ``x0`` (internal units).
    grid : int, optional
        Seed points per state (default: about 2000 seeds in all).
    tol : float
        Newton tolerance (relative step size).

    Returns
    -------
    list of Equilibrium
        Sorted by the value of the first state.

    Examples
    --------
    >>> import biosnn
    >>> from biosnn.analysis import find_equilibria
    >>> ml = biosnn.load_model("morris_lecar", preset="snic")
    >>> eqs = find_equilibria(ml, params={"I_ext": 30}, bounds={"V": (-80, 40), "w": (0, 1)})
    >>> [(round(e.state["V"], 2), e.type) for e in eqs]
    [(-41.85, 'stable node'), (-19.56, 'saddle'), (3.87, 'unstable focus')]
    """
    model = as_model(model)
    system = System(model, params)
    if isinstance(guesses, dict):
        guesses = [guesses]
    seeds = _seeds(system, list(guesses or []), bounds, grid or _default_grid(system.n))
    y, ok = newton(system, seeds, tol=tol)
    y = y[:, ok]
    if y.size:
        residual = np.max(np.abs(system.f(y)), axis=0)
        y = y[:, np.isfinite(residual)]
    scale = 1.0 + np.max(np.abs(y), axis=1) if y.size else np.ones(system.n)
    y = _deduplicate(y, scale, 1e-6)
    y = y[:, np.argsort(y[0])] if y.size else y
    shown = {k: v for k, v in model.params.items()}
    shown.update(
        {k: float(model.from_internal(k, system.p[system.index(k), 0])) for k in (params or {})}
    )
    return [equilibrium_from_state(system, y[:, k], shown) for k in range(y.shape[1])]
