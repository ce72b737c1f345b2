"""NumPy backend: print a :class:`~biosnn.codegen.spec.KernelSpec` as vectorized Python.

:class:`NumpyKernel` prints every function a driver needs from the spec's sympy trees (never
from user text), with common subexpressions eliminated (``sympy.cse``), compiles the source
once, registers it with :mod:`linecache` (tracebacks show the generated lines) and exposes
the functions.  Every function is vectorized over instances: states ``y`` have shape
(n_states, n), parameters ``p`` shape (n_params, n) (a row may also be a scalar or have
length 1; it broadcasts), time ``t`` is a scalar or an (n,) array.

Functions (docs/architecture.md, "Kernels")
-------------------------------------------
``f(t, y, p) -> (n_states, n)``            drift
``f1(t, y, p) -> list``                    drift of one instance on Python floats (``math``;
                                           raises where ``f`` gives inf/nan; fast path)
``g(t, y, p) -> (n_states, n_noises, n)``  noise coefficients (Ito)
``jac(t, y, p) -> (n, n_states, n_states)`` ``d f_i / d y_j``
``dfdt(t, y, p) -> (n_states, n)``         ``d f_i / d t``
``crossing(t, y, p) -> (n,)``              threshold function (zero at the threshold)
``threshold(t, y, p) -> bool (n,)``        threshold condition
``reset(t, y, p, mask)``                   reset statements, in place on ``y[:, mask]``
``refractory_condition(t, y, p) -> bool (n,)``
``refractory_time(t, y, p) -> (n,)``       refractory period (0 when the model has none)
``exp_euler_AB(t, y, p) -> (A, B)``        ``f_i = A_i y_i + B_i``, each (n_states, n)
``aliases(t, y, p) -> {name: (n,)}``

Printing: sympy's :class:`~sympy.printing.numpy.NumPyPrinter` with four changes -
``Piecewise`` becomes nested ``numpy.where`` (broadcasts scalars and arrays alike),
``And``/``Or``/``Min``/``Max`` become nested binary ufuncs (``logical_and``, ``minimum``, ...;
the printer's ``reduce`` over a tuple fails on mixed shapes), floats are printed with
``repr`` (exact round trip) and the module is called ``_np`` (user names never start with
``_``, so they cannot shadow it).  Safe functions of :mod:`biosnn.codegen.functions` print
themselves (``_numpycode``) and their implementations are in the namespace.

Examples
--------
>>> import numpy as np, sympy
>>> from biosnn.codegen.spec import KernelSpec
>>> from biosnn.codegen.numpy_backend import NumpyKernel
>>> v, tau = sympy.symbols("v tau", real=True)
>>> t = sympy.Symbol("t", real=True)
>>> spec = KernelSpec(name="decay", key="demo", states=("v",), params=("tau",), noises=(),
...                   t=t, f=(-v/tau,), g=(), jac=((-1/tau,),), dfdt=(sympy.S(0),))
>>> k = NumpyKernel(spec)
>>> k.f(0.0, np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]))
array([[-0.1, -0.1]])
"""

from __future__ import annotations

import linecache
import math
import re

import numpy as np

__all__ = [
    "NumpyKernel",
    "numpy_kernel",
    "compile_kernel_source",
    "print_numpy",
]  # the printers: biosnn.codegen.numpy_printer

_MODULE = "_np"


def print_numpy(expr) -> str:
    """Print one sympy expression as NumPy code (module ``_np``)."""
    from biosnn.codegen.numpy_printer import print_numpy as _print

    return _print(expr)


def __getattr__(name):
    # the printers live in numpy_printer (sympy); imported when first asked for
    if name in ("BiosnnNumPyPrinter", "BiosnnScalarPrinter"):
        from biosnn.codegen import numpy_printer

        return getattr(numpy_printer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: A call of a safe function of biosnn.codegen.functions (``bs_xexpm1(``, ``_s_bs_...(``).
_SAFE_CALL = re.compile(r"\bbs_\w*\(|\b_s_bs_\w*\(")


def _safe_functions() -> dict:
    """Name -> callable of the safe functions, plus ``_s_name`` scalar versions."""
    from biosnn.codegen.safe_numpy import kernel_namespace

    return kernel_namespace()


def _full(x, shape, dtype=float):
    """``x`` broadcast to ``shape`` as a fresh array."""
    if type(x) is np.ndarray and x.shape == shape and x.dtype == dtype:
        return x.copy()
    return np.array(np.broadcast_to(np.asarray(x, dtype=dtype), shape))


def _sel(x, idx):
    """Entries ``idx`` of a per-instance row (scalars and length-1 rows broadcast)."""
    if np.ndim(x) == 0 or np.shape(x)[-1] == 1:
        return x
    return x[..., idx]


class NumpyKernel:
    """Vectorized NumPy functions of one model (see the module docstring).

    Parameters
    ----------
    spec : KernelSpec or KernelLayout
        The lowered model (:class:`~biosnn.codegen.spec.Kernel`).  A
        :class:`~biosnn.codegen.spec.KernelLayout` whose ``numpy_source`` was stored by an
        earlier process is run without printing (and without sympy); otherwise the source
        is printed from ``spec.full_spec()``.

    Attributes
    ----------
    spec : KernelSpec or KernelLayout
    source : str
        The generated Python source (what runs).
    filename : str
        Name under which the source is registered with :mod:`linecache`.
    """

    def __init__(self, spec):
        self.spec = spec
        self.source = spec.numpy_source
        if self.source is None:
            from biosnn.codegen.numpy_printer import generate

            self.source = generate(spec.full_spec())
        self.filename = f"<biosnn-numpy {_ident(spec.name)} {spec.key[:12]}>"
        namespace = _run(self.source, self.filename, _SAFE_CALL.search(self.source) is not None)
        for name in _FUNCTIONS:
            setattr(self, name, namespace[name])

    # convenience flags ----------------------------------------------------------------
    @property
    def has_threshold(self) -> bool:
        return self.spec.threshold is not None

    @property
    def has_reset(self) -> bool:
        return bool(self.spec.reset)

    @property
    def has_refractory(self) -> bool:
        return self.spec.refractory_time is not None or self.spec.refractory_condition is not None

    def __repr__(self) -> str:
        return f"NumpyKernel({self.spec.name!r}, states={self.spec.states})"


_FUNCTIONS = (
    "f",
    "f1",
    "g",
    "jac",
    "dfdt",
    "crossing",
    "threshold",
    "reset",
    "refractory_condition",
    "refractory_time",
    "exp_euler_AB",
    "aliases",
)


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", str(name)) or "model"


def _run(source: str, filename: str, safe: bool) -> dict:
    """Register ``source`` with :mod:`linecache` under ``filename`` and execute it in the
    namespace of a NumPy kernel (with the safe functions when ``safe``); the namespace.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {
        _MODULE: np,
        "_m": math,
        "_full": _full,
        "_sel": _sel,
        "inf": np.inf,
        "nan": np.nan,
    }
    if safe:
        namespace.update(_safe_functions())
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - printed by us
    return namespace


def compile_kernel_source(source: str, filename: str) -> dict:
    """Compile NumPy kernel source (``numpy_printer.generate``) without sympy.

    The namespace is the one :class:`NumpyKernel` runs its source in (NumPy as ``_np``,
    ``math`` as ``_m``, the ``_full`` and ``_sel`` helpers and the safe functions of
    :mod:`biosnn.codegen.safe_numpy`: pure NumPy, no sympy), so the functions compute the
    same bits as the NumpyKernel's.  The source is registered with :mod:`linecache` under
    ``filename``.  Returns name -> function for the kernel functions the source defines
    (``f``, ``jac``, ...).
    """
    namespace = _run(source, filename, True)
    return {name: namespace[name] for name in _FUNCTIONS if name in namespace}


_KERNELS: dict = {}  # spec.key -> NumpyKernel (a cache, not semantics)


def numpy_kernel(spec) -> NumpyKernel:
    """The (cached) :class:`NumpyKernel` of ``spec`` (a KernelSpec or a KernelLayout; a
    layout keeps the printed source for the next process).
    """
    kern = _KERNELS.get(spec.key)
    if kern is None:
        kern = NumpyKernel(spec)
        if len(_KERNELS) > 64:
            _KERNELS.clear()
        _KERNELS[spec.key] = kern
    # a layout met after its kernel was built from the full spec (phase_plane, then
    # continuation; two presets of one model) still keeps the source for the next process
    if spec.numpy_source is None:
        spec.remember_numpy_source(kern.source)
    return kern
