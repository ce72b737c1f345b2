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

import itertools
import linecache
import math
import re

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from biosnn.codegen.spec import KernelSpec

__all__ = ["BiosnnNumPyPrinter", "NumpyKernel", "print_numpy"]

_MODULE = "_np"


class BiosnnNumPyPrinter(NumPyPrinter):
    """NumPy printer for kernels (see the module docstring for the differences)."""

    def __init__(self, settings=None):
        settings = dict(settings or {})
        settings.setdefault("fully_qualified_modules", True)
        settings.setdefault("allow_unknown_functions", False)
        super().__init__(settings)

    def _module_format(self, fqn, register=True):
        out = super()._module_format(fqn, register)
        if out.startswith("numpy."):
            out = _MODULE + out[len("numpy"):]
        return out

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Piecewise(self, expr):
        pieces = list(expr.args)
        where = self._module_format("numpy.where")
        if pieces[-1].cond == sympy.true:
            out = self._print(pieces.pop().expr)
        else:
            out = self._module_format("numpy.nan")
        for piece in reversed(pieces):
            out = f"{where}({self._print(piece.cond)}, {self._print(piece.expr)}, {out})"
        return out

    def _binary_chain(self, ufunc: str, args) -> str:
        name = self._module_format(ufunc)
        printed = [self._print(a) for a in args]
        out = printed[0]
        for nxt in printed[1:]:
            out = f"{name}({out}, {nxt})"
        return out

    def _print_And(self, expr):
        return self._binary_chain("numpy.logical_and", expr.args)

    def _print_Or(self, expr):
        return self._binary_chain("numpy.logical_or", expr.args)

    def _print_Not(self, expr):
        return f"{self._module_format('numpy.logical_not')}({self._print(expr.args[0])})"

    def _print_Min(self, expr):
        return self._binary_chain("numpy.minimum", expr.args)

    def _print_Max(self, expr):
        return self._binary_chain("numpy.maximum", expr.args)

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


class BiosnnScalarPrinter(PythonCodePrinter):
    """Printer of the single-instance drift ``f1`` (Python floats, the ``math`` module).

    Safe functions print as ``_s_<numpy_name>`` (scalar versions in the namespace).
    """

    def __init__(self, settings=None):
        settings = dict(settings or {})
        settings.setdefault("fully_qualified_modules", True)
        super().__init__(settings)

    def _module_format(self, fqn, register=True):
        out = super()._module_format(fqn, register)
        if out.startswith("math."):
            out = "_m" + out[len("math"):]
        return out

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Function(self, expr):
        name = getattr(type(expr), "numpy_name", "")
        if name:
            return f"_s_{name}({self._print(expr.args[0])})"
        return super()._print_Function(expr)


def print_numpy(expr) -> str:
    """Print one sympy expression as NumPy code (module ``_np``)."""
    return BiosnnNumPyPrinter().doprint(expr)


def _safe_functions() -> dict:
    """name -> callable of the safe functions, plus ``_s_name`` scalar versions."""
    try:
        from biosnn.codegen.functions import NUMPY_FUNCTIONS
    except ImportError:  # pragma: no cover - functions.py is part of the package
        return {}
    out = dict(NUMPY_FUNCTIONS)
    for name, fun in NUMPY_FUNCTIONS.items():
        out["_s_" + name] = _scalar_version(name, fun)
    return out


def _scalar_version(name, fun):
    """Scalar (float -> float) version of a vectorized safe function."""
    if name == "bs_xexpm1":
        from biosnn.codegen.functions import ORDER0_SERIES_RADIUS

        def xexpm1(x, _r=ORDER0_SERIES_RADIUS, _expm1=math.expm1):
            # the same formula as the vectorized version (functions._np_order0)
            if abs(x) < _r:
                return 1.0 - x * (0.5 - x / 12.0)
            return x / _expm1(x)

        return xexpm1

    def scalar(x):
        return float(fun(np.float64(x)))

    return scalar


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


class _Writer:
    """Accumulates the lines of the generated module."""

    def __init__(self, spec: KernelSpec):
        self.spec = spec
        self.printer = BiosnnNumPyPrinter()
        self.lines: list[str] = []
        self._tmp = itertools.count()

    def emit(self, line: str = "", indent: int = 0):
        self.lines.append("    " * indent + line)

    def pr(self, expr) -> str:
        return self.printer.doprint(sympy.sympify(expr))

    def bind(self, exprs, indent=1, index=None):
        """Bind the states / parameters used by ``exprs`` to local names."""
        used = set()
        for e in exprs:
            if e is not None:
                used |= {s.name for s in sympy.sympify(e).free_symbols}
        sel = "" if index is None else f", {index}"
        for i, name in enumerate(self.spec.states):
            if name in used:
                self.emit(f"{name} = _y[{i}{sel}]", indent)
        for k, name in enumerate(self.spec.params):
            if name in used:
                rhs = f"_p[{k}]" if index is None else f"_sel(_p[{k}], {index})"
                self.emit(f"{name} = {rhs}", indent)

    def cse(self, exprs, indent=1) -> list[str]:
        """Emit common subexpressions; return the printed reduced expressions."""
        exprs = [sympy.sympify(e) for e in exprs]
        if not exprs:
            return []
        syms = (sympy.Symbol(f"_x{next(self._tmp)}", real=True) for _ in itertools.count())
        repl, reduced = sympy.cse(exprs, symbols=syms)
        for sym, sub in repl:
            self.emit(f"{sym.name} = {self.pr(sub)}", indent)
        return [self.pr(e) for e in reduced]


class NumpyKernel:
    """Vectorized NumPy functions of one model (see the module docstring).

    Parameters
    ----------
    spec : KernelSpec
        The lowered model.

    Attributes
    ----------
    spec : KernelSpec
    source : str
        The generated Python source (what runs).
    filename : str
        Name under which the source is registered with :mod:`linecache`.
    """

    def __init__(self, spec: KernelSpec):
        self.spec = spec
        self.source = _generate(spec)
        self.filename = f"<biosnn-numpy {_ident(spec.name)} {spec.key[:12]}>"
        linecache.cache[self.filename] = (len(self.source), None,
                                          self.source.splitlines(True), self.filename)
        namespace = {_MODULE: np, "_m": math, "_full": _full, "_sel": _sel, "inf": np.inf,
                     "nan": np.nan}
        namespace.update(_safe_functions())
        exec(compile(self.source, self.filename, "exec"), namespace)  # noqa: S102 - printed by us
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
        return (self.spec.refractory_time is not None
                or self.spec.refractory_condition is not None)

    def __repr__(self) -> str:
        return f"NumpyKernel({self.spec.name!r}, states={self.spec.states})"


_FUNCTIONS = ("f", "f1", "g", "jac", "dfdt", "crossing", "threshold", "reset",
              "refractory_condition", "refractory_time", "exp_euler_AB", "aliases")


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", str(name)) or "model"


def _generate(spec: KernelSpec) -> str:
    w = _Writer(spec)
    w.emit(f'"""Generated by biosnn.codegen.numpy_backend for model {spec.name!r} '
           f'(key {spec.key}). Do not edit."""')
    _gen_f(w)
    _gen_f1(w)
    _gen_g(w)
    _gen_jac(w)
    _gen_dfdt(w)
    _gen_scalar(w, "crossing", spec.crossing, "float", "0.0")
    _gen_scalar(w, "threshold", spec.threshold, "bool", "False")
    _gen_scalar(w, "refractory_condition", spec.refractory_condition, "bool", "False")
    _gen_scalar(w, "refractory_time", spec.refractory_time, "float", "0.0")
    _gen_reset(w)
    _gen_exp_euler(w)
    _gen_aliases(w)
    return "\n".join(w.lines) + "\n"


def _gen_f(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def f(t, _y, _p):")
    w.emit('"""Drift f(t, y, p): (n_states, n)."""', 1)
    w.bind(spec.f)
    printed = w.cse(spec.f)
    w.emit("_out = _np.empty(_np.shape(_y), dtype=float)", 1)
    for i, code in enumerate(printed):
        w.emit(f"_out[{i}] = {code}", 1)
    w.emit("return _out", 1)


def _gen_f1(w: _Writer):
    """Single-instance drift on Python floats (the NumPy driver's fast path for n = 1)."""
    spec = w.spec
    w.emit()
    w.emit("def f1(t, _y, _p):")
    w.emit('"""Drift of one instance: y, p sequences of floats -> list (math module; may '
           'raise ArithmeticError/ValueError where f gives inf/nan)."""', 1)
    used = set()
    for e in spec.f:
        used |= {x.name for x in sympy.sympify(e).free_symbols}
    for i, name in enumerate(spec.states):
        if name in used:
            w.emit(f"{name} = _y[{i}]", 1)
    for k, name in enumerate(spec.params):
        if name in used:
            w.emit(f"{name} = _p[{k}]", 1)
    printer = BiosnnScalarPrinter()
    exprs = [sympy.sympify(e) for e in spec.f]
    syms = (sympy.Symbol(f"_s{i}", real=True) for i in itertools.count())
    repl, reduced = sympy.cse(exprs, symbols=syms)
    for sym, sub in repl:
        w.emit(f"{sym.name} = {printer.doprint(sub)}", 1)
    w.emit("return [" + ", ".join(printer.doprint(e) for e in reduced) + "]", 1)


def _gen_g(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def g(t, _y, _p):")
    w.emit('"""Noise coefficients g(t, y, p): (n_states, n_noises, n)."""', 1)
    entries = [(i, k, e) for i, row in enumerate(spec.g) for k, e in enumerate(row)
               if sympy.sympify(e) != 0]
    w.bind([e for _, _, e in entries])
    printed = w.cse([e for _, _, e in entries])
    w.emit(f"_out = _np.zeros(({spec.n_states}, {spec.n_noises}, _np.shape(_y)[1]))", 1)
    for (i, k, _), code in zip(entries, printed):
        w.emit(f"_out[{i}, {k}] = {code}", 1)
    w.emit("return _out", 1)


def _gen_jac(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def jac(t, _y, _p):")
    w.emit('"""Jacobian d f_i / d y_j: (n, n_states, n_states)."""', 1)
    entries = [(i, j, e) for i, row in enumerate(spec.jac) for j, e in enumerate(row)
               if sympy.sympify(e) != 0]
    w.bind([e for _, _, e in entries])
    printed = w.cse([e for _, _, e in entries])
    w.emit(f"_out = _np.zeros((_np.shape(_y)[1], {spec.n_states}, {spec.n_states}))", 1)
    for (i, j, _), code in zip(entries, printed):
        w.emit(f"_out[:, {i}, {j}] = {code}", 1)
    w.emit("return _out", 1)


def _gen_dfdt(w: _Writer):
    spec = w.spec
    exprs = list(spec.dfdt) or [sympy.S(0)] * spec.n_states
    w.emit()
    w.emit("def dfdt(t, _y, _p):")
    w.emit('"""Time derivative d f_i / d t: (n_states, n)."""', 1)
    w.bind(exprs)
    printed = w.cse(exprs)
    w.emit("_out = _np.empty(_np.shape(_y), dtype=float)", 1)
    for i, code in enumerate(printed):
        w.emit(f"_out[{i}] = {code}", 1)
    w.emit("return _out", 1)


def _gen_scalar(w: _Writer, name: str, expr, dtype: str, default: str):
    w.emit()
    w.emit(f"def {name}(t, _y, _p):")
    w.emit(f'"""{name} per instance: ({dtype}) (n,)."""', 1)
    if expr is None:
        w.emit(f"return _full({default}, _np.shape(_y)[1:], {dtype})", 1)
        return
    w.bind([expr])
    (code,) = w.cse([expr])
    w.emit(f"return _full({code}, _np.shape(_y)[1:], {dtype})", 1)


def _gen_reset(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def reset(t, _y, _p, _mask):")
    w.emit('"""Reset statements, in order, in place on the instances in mask."""', 1)
    if not spec.reset:
        w.emit("return None", 1)
        return
    w.emit("_i = _np.nonzero(_mask)[0]", 1)
    w.emit("if _i.size == 0:", 1)
    w.emit("return None", 2)
    w.emit("t = _sel(t, _i)", 1)
    w.bind([e for _, e in spec.reset], index="_i")
    # states assigned but not used in any expression still need a local for write-back
    assigned = []
    for i, expr in spec.reset:
        name = spec.states[i]
        w.emit(f"{name} = {w.pr(expr)}", 1)
        if name not in assigned:
            assigned.append(name)
    for name in assigned:
        w.emit(f"_y[{spec.states.index(name)}, _i] = {name}", 1)
    w.emit("return None", 1)


def _gen_exp_euler(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def exp_euler_AB(t, _y, _p):")
    w.emit('"""(A, B) with f_i = A_i*y_i + B_i, each (n_states, n) (NaN if not linear)."""',
           1)
    pairs = list(spec.exp_euler) or [None] * spec.n_states
    exprs = []
    for pair in pairs:
        exprs += [sympy.nan, sympy.nan] if pair is None else [pair[0], pair[1]]
    w.bind(exprs)
    printed = w.cse(exprs)
    w.emit("_A = _np.empty(_np.shape(_y), dtype=float)", 1)
    w.emit("_B = _np.empty(_np.shape(_y), dtype=float)", 1)
    for i in range(spec.n_states):
        w.emit(f"_A[{i}] = {printed[2 * i]}", 1)
        w.emit(f"_B[{i}] = {printed[2 * i + 1]}", 1)
    w.emit("return _A, _B", 1)


def _gen_aliases(w: _Writer):
    spec = w.spec
    w.emit()
    w.emit("def aliases(t, _y, _p):")
    w.emit('"""Aliases (subexpressions): {name: (n,)}."""', 1)
    exprs = [e for _, e in spec.aliases]
    w.bind(exprs)
    printed = w.cse(exprs)
    w.emit("_n = _np.shape(_y)[1:]", 1)
    w.emit("return {", 1)
    for (name, _), code in zip(spec.aliases, printed):
        w.emit(f"{name!r}: _full({code}, _n),", 2)
    w.emit("}", 1)
