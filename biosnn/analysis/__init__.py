"""Dynamics analysis of biosnn Models: phase plane, equilibria, continuation, bifurcations.

The tools take a :class:`~biosnn.equations.model.Model` (or a library model name) and
work on its exact symbolic Jacobian and parameter derivatives, printed into NumPy kernels.
Values go in and come out in display units.  See docs/analysis.md.

The public API is listed in ``__all__``; like :mod:`biosnn`, this package imports numpy,
sympy and matplotlib only when a function that needs them is first used.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Equilibrium": "biosnn.analysis.equilibria",
    "classify": "biosnn.analysis.equilibria",
    "find_equilibria": "biosnn.analysis.equilibria",
    "BifurcationDiagram": "biosnn.analysis.continuation",
    "SpecialPoint": "biosnn.analysis.continuation",
    "continue_equilibria": "biosnn.analysis.continuation",
    "lyapunov_coefficient": "biosnn.analysis.continuation",
    "CycleBranch": "biosnn.analysis.cycles",
    "CyclePoint": "biosnn.analysis.cycles",
    "continue_cycles": "biosnn.analysis.cycles",
    "phase_plane": "biosnn.analysis.phaseplane",
    "Codim2Point": "biosnn.analysis.codim2",
    "Curve": "biosnn.analysis.codim2",
    "TwoParameterDiagram": "biosnn.analysis.codim2",
    "continue_curve": "biosnn.analysis.codim2",
    "two_parameter_diagram": "biosnn.analysis.codim2",
    "OrbitDiagram": "biosnn.analysis.orbitdiagram",
    "orbit_diagram": "biosnn.analysis.orbitdiagram",
    "PhasePlane": "biosnn.analysis.phaseplane",
    "FICurve": "biosnn.analysis.excitability",
    "fi_curve": "biosnn.analysis.excitability",
    "PRC": "biosnn.analysis.prc",
    "PeriodicOrbit": "biosnn.analysis.prc",
    "adjoint_prc": "biosnn.analysis.prc",
    "direct_prc": "biosnn.analysis.prc",
    "periodic_orbit": "biosnn.analysis.prc",
    "ContinuationOptions": "biosnn.analysis.options",
    "FastSlow": "biosnn.analysis.fastslow",
    "fast_slow": "biosnn.analysis.fastslow",
    "fast_subsystem": "biosnn.analysis.fastslow",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biosnn.analysis' has no attribute {name!r}")


def __dir__():
    return __all__
