"""biosnn: a workbench for biophysical neuron and network models.

Write a model as equations with units, simulate it on NumPy or compiled C, analyse it.

>>> import biosnn
>>> hh = biosnn.load_model("hodgkin_huxley")
>>> res = biosnn.simulate(hh, 100, params={"I_ext": 10}, method="rk4", dt=0.01)
>>> len(res.spikes[0])
7

The public API is listed in ``__all__``.  Importing biosnn is cheap: numpy, sympy, scipy
and matplotlib are imported when a function that needs them is first called (start-up is
part of performance; see docs/architecture.md).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Model": "biosnn.equations.model",
    "load_model": "biosnn.equations.files",
    "list_models": "biosnn.equations.files",
    "simulate": "biosnn.solvers.simulate",
    "SolverOptions": "biosnn.solvers.options",
    "ContinuationOptions": "biosnn.analysis.options",
    "kernel_source": "biosnn.codegen.source",
    "Result": "biosnn.solvers.result",
    "Stimulus": "biosnn.stimulus",
    "BiosnnError": "biosnn.errors",
    "ModelError": "biosnn.errors",
    "UnitError": "biosnn.errors",
    "SimulationError": "biosnn.errors",
    "MethodError": "biosnn.errors",
    "CompilerError": "biosnn.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biosnn' has no attribute {name!r}")


def __dir__():
    return __all__
