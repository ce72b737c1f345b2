"""Options of the analyses: ``ContinuationOptions`` and the table of default settings.

:class:`ContinuationOptions` holds the step control of the pseudo-arclength continuations
(:func:`~biosnn.analysis.continue_equilibria`, :func:`~biosnn.analysis.continue_cycles`,
:func:`~biosnn.analysis.continue_curve`, :func:`~biosnn.analysis.two_parameter_diagram`,
and the equilibrium branch of :func:`~biosnn.analysis.fast_slow`); each takes
``options=`` and keeps its keywords, which win over the options.

:data:`SOLVER_DEFAULTS` and :data:`CONTINUATION_DEFAULTS` are the one table of default
settings per entry point (docs/options.md prints them; a test checks that the page and
the table agree).  Why each entry point's defaults are what they are is in
:data:`SOLVER_WHY` and :data:`CONTINUATION_WHY`.

Examples
--------
>>> from biosnn.analysis.options import CONTINUATION_DEFAULTS, SOLVER_DEFAULTS
>>> SOLVER_DEFAULTS["direct_prc"].rtol, CONTINUATION_DEFAULTS["continue_cycles"].ds_max
(1e-10, 0.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from biosnn.errors import BiosnnError
from biosnn.solvers.options import SolverOptions, _positive, _replace, _whole

__all__ = [
    "ContinuationOptions",
    "SOLVER_DEFAULTS",
    "CONTINUATION_DEFAULTS",
    "SOLVER_WHY",
    "CONTINUATION_WHY",
]


@dataclass(frozen=True)
class ContinuationOptions:
    """Step control of a pseudo-arclength continuation, as one checked value.

    Steps and tolerances are in the scaled coordinates of each continuation (see the
    function's docstring: states divided by their magnitude at the start, the parameter
    by the interval's length or its start value).  The defaults are those of
    :func:`~biosnn.analysis.continue_equilibria`; the other continuations' defaults are
    in :data:`CONTINUATION_DEFAULTS` (docs/options.md).

    Parameters
    ----------
    ds : float
        First arclength step (default 0.01).
    ds_max : float
        Largest step (default 0.05).
    ds_min : float
        Smallest step: a corrector that fails at it ends the branch (default 1e-9).
    max_points : int
        Points of a branch (per direction where a continuation goes both ways) before
        it stops (default 2000).
    tol : float
        Newton tolerance of the corrector (default 1e-10).
    max_angle : float
        Largest angle (radians) between successive tangents; a larger turn halves the
        step (default 0.2).

    Raises
    ------
    BiosnnError
        A field that is not valid (the message names it): steps, tolerance and angle
        must be positive finite numbers with ``ds_min <= ds`` and ``ds_min <= ds_max``,
        ``max_angle < pi``, ``max_points`` a whole number >= 2.

    Examples
    --------
    >>> from biosnn import ContinuationOptions
    >>> ContinuationOptions(ds_max=0.02).replace(max_points=300)
    ContinuationOptions(ds=0.01, ds_max=0.02, ds_min=1e-09, max_points=300, tol=1e-10, \
max_angle=0.2)
    >>> ContinuationOptions(ds_min=0)
    Traceback (most recent call last):
    ...
    biosnn.errors.BiosnnError: ds_min must be a positive finite number, not 0
    """

    ds: float = 0.01
    ds_max: float = 0.05
    ds_min: float = 1e-9
    max_points: int = 2000
    tol: float = 1e-10
    max_angle: float = 0.2

    def __post_init__(self):
        for name in ("ds", "ds_max", "ds_min", "tol", "max_angle"):
            value = getattr(self, name)
            if not _positive(value):
                raise BiosnnError(f"{name} must be a positive finite number, not {value!r}")
            object.__setattr__(self, name, float(value))
        if not _whole(self.max_points) or self.max_points < 2:
            raise BiosnnError(f"max_points must be a whole number >= 2, not {self.max_points!r}")
        object.__setattr__(self, "max_points", int(self.max_points))
        if self.ds < self.ds_min:
            raise BiosnnError(f"ds = {self.ds:g} is smaller than ds_min = {self.ds_min:g}")
        if self.ds_max < self.ds_min:
            raise BiosnnError(f"ds_max = {self.ds_max:g} is smaller than ds_min = {self.ds_min:g}")
        if not self.max_angle < math.pi:
            raise BiosnnError(f"max_angle must be below pi (radians), not {self.max_angle!r}")

    def replace(self, **changes) -> ContinuationOptions:
        """A copy with ``changes`` (field -> value), checked like a new one."""
        return _replace(self, changes)

    def kwargs(self) -> dict:
        """The fields as keywords (``ds``, ``ds_max``, ...)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


#: The solver settings each entry point uses when it is given no options and no keywords.
SOLVER_DEFAULTS: dict[str, SolverOptions] = {
    "simulate": SolverOptions(),
    "orbit_diagram": SolverOptions(),
    "fi_curve": SolverOptions(method="dop853", rtol=1e-6, atol=1e-8),
    "fast_slow": SolverOptions(method="dop853", rtol=1e-8, atol=1e-10),
    "periodic_orbit": SolverOptions(method="dop853", rtol=1e-10, atol=1e-12),
    "direct_prc": SolverOptions(method="dop853", rtol=1e-10, atol=1e-12),
    "phase_plane": SolverOptions(method="dop853", rtol=1e-10, atol=1e-10),
}

#: The continuation settings of each continuation when it is given no options/keywords.
CONTINUATION_DEFAULTS: dict[str, ContinuationOptions] = {
    "continue_equilibria": ContinuationOptions(),
    "continue_curve": ContinuationOptions(max_points=1000),
    "continue_cycles": ContinuationOptions(
        ds=0.02, ds_max=0.5, ds_min=1e-7, max_points=500, tol=1e-9, max_angle=0.3
    ),
    "fast_slow": ContinuationOptions(ds_max=0.02),
}

#: Why an entry point's solver defaults are what they are (docs/options.md).
SOLVER_WHY: dict[str, str] = {
    "simulate": "the reference: a fixed step is fast and reproducible, and it is what networks use",
    "orbit_diagram": "as simulate (one run with one instance per value)",
    "fi_curve": "counts threshold crossings: the adaptive step's dense output locates "
    "every crossing; rates need less accuracy than the PRC",
    "fast_slow": "the bursting trajectory is drawn over the fast subsystem's diagram, "
    "where the slow variable moves little per spike: tighter than fi_curve",
    "periodic_orbit": "the transient ends when two successive inter-spike intervals agree "
    "to 1e-8 (relative), which needs a much smaller timing error; the orbit feeds the "
    "adjoint PRC",
    "direct_prc": "Z = (t_- - t_+)/(2 kick) with a kick of 1e-4 of the orbit's range: a "
    "spike-time error e becomes e/(2 kick) in Z",
    "phase_plane": "trajectories, manifolds and cycles of the 2-D slice, backward in time "
    "too (scipy's solve_ivp); atol is relative to the window's size; the coarse search "
    "for a default window uses rtol = atol = 1e-6",
}

#: Why a continuation's defaults are what they are (docs/options.md).
CONTINUATION_WHY: dict[str, str] = {
    "continue_equilibria": "the reference (ContinuationOptions())",
    "continue_curve": "max_points counts each of the two directions",
    "continue_cycles": "a step solves the collocation system (ntst*ncol*n unknowns): "
    "larger steps, a looser Newton tolerance, fewer points",
    "fast_slow": "its slow interval is wide (the trajectory's range widened by twice its "
    "span on each side): a smaller largest step than continue_equilibria's",
}


def _cell(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def solver_table() -> str:
    """:data:`SOLVER_DEFAULTS` as a Markdown table (docs/options.md holds this text).

    Examples
    --------
    >>> from biosnn.analysis.options import solver_table
    >>> solver_table().splitlines()[4].split(" | ")[:5]
    ['| `fi_curve`', 'dop853', '-', '1e-06', '1e-08']
    """
    rows = [
        "| entry point | method | dt | rtol | atol | why |",
        "|---|---|---|---|---|---|",
    ]
    for name, o in SOLVER_DEFAULTS.items():
        dt = "0.01" if o.dt is None and not o.adaptive else _cell(o.dt)
        cells = [f"`{name}`", o.method, dt, _cell(o.rtol), _cell(o.atol), SOLVER_WHY[name]]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def continuation_table() -> str:
    """:data:`CONTINUATION_DEFAULTS` as a Markdown table (docs/options.md holds this text)."""
    fields = list(ContinuationOptions.__dataclass_fields__)
    rows = [
        "| entry point | " + " | ".join(fields) + " | why |",
        "|---|" + "---|" * len(fields) + "---|",
    ]
    for name, o in CONTINUATION_DEFAULTS.items():
        cells = [f"`{name}`"] + [_cell(getattr(o, f)) for f in fields] + [CONTINUATION_WHY[name]]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
