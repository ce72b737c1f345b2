"""``SolverOptions``: the solver settings of one integration, as one checked value.

Every entry point that integrates a model takes ``options=`` (a :class:`SolverOptions`):
:func:`biosnn.simulate`, :func:`~biosnn.analysis.fi_curve`,
:func:`~biosnn.analysis.periodic_orbit`, :func:`~biosnn.analysis.direct_prc` and
:func:`~biosnn.analysis.adjoint_prc` (through its orbit),
:func:`~biosnn.analysis.fast_slow`, :func:`~biosnn.analysis.orbit_diagram` and
:func:`~biosnn.analysis.phase_plane` (its trajectories).  Their keywords ``method``,
``dt``, ``rtol``, ``atol``, ``backend`` (and ``seed``, ``max_steps`` where they exist)
still work and win over the options: the settings used are ``options`` (or the entry
point's default options) with every keyword that is not None put in.  The defaults of the
analyses (where they differ from :func:`biosnn.simulate`'s, and why) are one table,
:data:`biosnn.analysis.options.SOLVER_DEFAULTS`, shown in docs/options.md.

Examples
--------
>>> import biosnn
>>> opts = biosnn.SolverOptions(method="dop853", rtol=1e-8, atol=1e-10)
>>> opts.replace(rtol=1e-6).rtol
1e-06
>>> biosnn.SolverOptions(method="rk5")
Traceback (most recent call last):
...
biosnn.errors.MethodError: method: unknown method 'rk5'; the methods are: euler, midpoint, \
heun, rk4, exponential_euler, exact, euler_maruyama, stochastic_heun, rk23, rk45, dop853, rodas4.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from biosnn.errors import BiosnnError, MethodError, SimulationError

__all__ = ["SolverOptions", "DEFAULT_MAX_STEPS", "merge"]

#: Steps per instance before a run gives up (the default of ``max_steps``).
DEFAULT_MAX_STEPS = 10_000_000


_METHODS: tuple = ()


def _methods():
    """(all method names, those that choose their own steps), imported once."""
    global _METHODS
    if not _METHODS:
        from biosnn.solvers.request import ADAPTIVE, METHODS, STIFF

        _METHODS = (METHODS, ADAPTIVE + STIFF)
    return _METHODS


@dataclass(frozen=True)
class SolverOptions:
    """Solver settings shared by :func:`biosnn.simulate` and the analyses that integrate.

    A frozen value: checked when it is made (a bad field is one error that names it),
    hashable, picklable; :meth:`replace` returns a changed copy.  The defaults are those
    of :func:`biosnn.simulate`; the analyses' own defaults are in
    :data:`biosnn.analysis.options.SOLVER_DEFAULTS` (docs/options.md).

    Parameters
    ----------
    method : str
        ``euler, midpoint, heun, rk4, exponential_euler, exact`` (fixed step),
        ``euler_maruyama, stochastic_heun`` (noise, fixed step), ``rk23, rk45, dop853``
        (adaptive), ``rodas4`` (stiff).  Default ``"rk4"``.
    dt : float or str, optional
        Fixed step (ms, or time units; or a string with a unit).  None: 0.01 for
        fixed-step methods; adaptive methods choose their first step (Hairer's rule),
        or start with ``dt`` when it is given.
    rtol, atol : float, optional
        Relative and absolute tolerance (``atol`` in internal units of the states).
        Adaptive and stiff methods need both (there is no silent default); fixed-step
        methods do not use them.
    backend : {"auto", "numpy", "c"}
        ``auto``: compiled C when a compiler works, else NumPy with one warning.
    max_steps : int
        Steps per instance before a run gives up (default 10 000 000).
    seed : int, optional
        Seed of the noise of the stochastic methods (default: drawn, reported in
        ``stats["seed"]``); ``0 <= seed < 2**64``.

    Raises
    ------
    MethodError
        An unknown method, a tolerance that is not a positive finite number, or an
        adaptive method without both tolerances.
    SimulationError
        A ``dt``, ``backend``, ``max_steps`` or ``seed`` that is not valid.

    Examples
    --------
    >>> from biosnn import SolverOptions
    >>> SolverOptions()
    SolverOptions(method='rk4', dt=None, rtol=None, atol=None, backend='auto', \
max_steps=10000000, seed=None)
    >>> SolverOptions(method="rk45")
    Traceback (most recent call last):
    ...
    biosnn.errors.MethodError: rtol, atol: method 'rk45' chooses its own steps and needs \
explicit tolerances, e.g. SolverOptions(method='rk45', rtol=1e-6, atol=1e-9) \
(or simulate(model, duration, method='rk45', rtol=1e-6, atol=1e-9)).
    """

    method: str = "rk4"
    dt: float | str | None = None
    rtol: float | None = None
    atol: float | None = None
    backend: str = "auto"
    max_steps: int = DEFAULT_MAX_STEPS
    seed: int | None = None

    def __post_init__(self):
        methods, adaptive = _methods()
        if not isinstance(self.method, str) or self.method not in methods:
            raise MethodError(
                f"method: unknown method {self.method!r}; the methods are: "
                + ", ".join(methods)
                + "."
            )
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if value is None:
                continue
            if not _positive(value):
                raise MethodError(f"{name} must be a positive number, not {value!r}.")
            object.__setattr__(self, name, float(value))
        if self.method in adaptive and (self.rtol is None or self.atol is None):
            m = self.method
            raise MethodError(
                f"rtol, atol: method {m!r} chooses its own steps and needs explicit "
                f"tolerances, e.g. SolverOptions(method={m!r}, rtol=1e-6, atol=1e-9) "
                f"(or simulate(model, duration, method={m!r}, rtol=1e-6, atol=1e-9))."
            )
        if self.dt is not None:
            if isinstance(self.dt, str):
                if not self.dt.strip():
                    raise SimulationError(
                        "dt must be a number (ms) or a string with a unit, not ''."
                    )
            elif not _positive(self.dt):
                raise SimulationError(f"dt must be positive, got {self.dt!r}.")
        if self.backend not in ("auto", "numpy", "c"):
            from biosnn.codegen.backend import check_backend

            check_backend(self.backend)  # its error, naming the backends
        steps = self.max_steps
        if not _whole(steps):
            raise SimulationError(f"max_steps must be a positive whole number, not {steps!r}.")
        object.__setattr__(self, "max_steps", int(steps))
        if self.seed is not None:
            from biosnn.solvers.noise import check_seed

            object.__setattr__(self, "seed", check_seed(self.seed))

    @property
    def adaptive(self) -> bool:
        """Whether the method chooses its own steps (adaptive or stiff)."""
        return self.method in _methods()[1]

    def replace(self, **changes) -> SolverOptions:
        """A copy with ``changes`` (field -> value), checked like a new one.

        Examples
        --------
        >>> from biosnn import SolverOptions
        >>> SolverOptions().replace(method="euler", dt=0.05)
        SolverOptions(method='euler', dt=0.05, rtol=None, atol=None, backend='auto', \
max_steps=10000000, seed=None)
        """
        return _replace(self, changes)

    def simulate_kwargs(self) -> dict:
        """The keywords of :func:`biosnn.simulate` these options stand for.

        Tolerances are passed only to adaptive and stiff methods (fixed-step methods do
        not use them), ``dt`` only when it is set, ``seed`` only when it is set.
        """
        kw = dict(method=self.method, backend=self.backend)
        if self.adaptive:
            kw.update(rtol=self.rtol, atol=self.atol)
        if self.dt is not None:
            kw["dt"] = self.dt
        if self.max_steps != DEFAULT_MAX_STEPS:
            kw["max_steps"] = self.max_steps
        if self.seed is not None:
            kw["seed"] = self.seed
        return kw


def _positive(value) -> bool:
    """A positive finite number (anything ``float()`` takes, but not a bool)."""
    if type(value) is float:
        return value > 0 and math.isfinite(value)
    if isinstance(value, bool):
        return False
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    return value > 0 and math.isfinite(value)


def _whole(value) -> bool:
    """A positive whole number (``1e6`` counts; a bool does not)."""
    if type(value) is int:
        return value >= 1
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and float(value).is_integer() and value >= 1


def _replace(options, changes: dict):
    """A new options value of the same class: the fields of ``options`` with ``changes``."""
    names = type(options).__dataclass_fields__
    for key in changes:
        if key not in names:
            raise BiosnnError(
                f"{type(options).__name__} has no field {key!r}; the fields are: "
                + ", ".join(names)
                + "."
            )
    values = {name: getattr(options, name) for name in names}
    values.update(changes)
    return type(options)(**values)


def merge(options, default, what: str, **given):
    """``options`` (or ``default`` when None) with every keyword of ``given`` that is not
    None put in: the settings an entry point runs with (explicit keywords win).

    Parameters
    ----------
    options : SolverOptions or ContinuationOptions or None
        What the caller passed as ``options=``.
    default : SolverOptions or ContinuationOptions
        The entry point's default options.
    what : str
        The entry point, for the error when ``options`` has the wrong type.
    **given
        Keyword arguments of the entry point (None: not given).

    Examples
    --------
    >>> from biosnn.solvers.options import SolverOptions, merge
    >>> merge(None, SolverOptions(method="dop853", rtol=1e-6, atol=1e-8), "fi_curve",
    ...       rtol=1e-9, atol=None).rtol
    1e-09
    """
    if options is None:
        options = default
    elif type(options) is not type(default):
        raise BiosnnError(
            f"{what}: options must be a {type(default).__name__}, not {type(options).__name__}"
        )
    changes = {k: v for k, v in given.items() if v is not None}
    return _replace(options, changes) if changes else options
