"""The sympy side of the NumPy backend: printers and the generator of a kernel's source.

Split from :mod:`biosnn.codegen.numpy_backend` so that running a kernel whose source was
printed before (the warm start, docs/architecture.md) does not import sympy: that module
imports this one only to print.  See :mod:`biosnn.codegen.numpy_backend` for what is
printed and how.
"""

from __future__ import annotations

import itertools

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from biosnn.codegen.spec import KernelSpec
from biosnn.names import source_token

__all__ = ["BiosnnNumPyPrinter", "BiosnnScalarPrinter", "print_numpy", "generate"]

_MODULE = "_np"


class BiosnnNumPyPrinter(NumPyPrinter):
    """NumPy printer for kernels (see the module docstring for the differences)."""

    def __init__(self, settings=None):
        settings = dict(settings or {})
        settings.setdefault("fully_qualified_modules", True)
        settings.setdefault("allow_unknown_functions", False)
        super().__init__(settings)

    def _print_ComplexInfinity(self, expr):
        # sympy's "complex infinity" (1/0, log(0)) can appear where cse or a rewrite folds
        # a branch: undefined, so nan, which the drivers report as a non-finite state
        return f"{_MODULE}.nan"

    def _module_format(self, fqn, register=True):
        out = super()._module_format(fqn, register)
        if out.startswith("numpy."):
            out = _MODULE + out[len("numpy") :]
        return out

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Pow(self, expr, rational=False):
        """A power of a number through ``numpy.power``: Python's ``1e300**3.14`` raises
        OverflowError where NumPy (and C) give inf.
        """
        if expr.base.is_Number and not expr.exp.is_Integer:
            return (
                f"{self._module_format('numpy.power')}({self._print(expr.base)}, "
                f"{self._print(expr.exp)})"
            )
        return super()._print_Pow(expr, rational=rational)

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
            out = "_m" + out[len("math") :]
        return out

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Function(self, expr):
        name = getattr(type(expr), "numpy_name", "")
        if name:
            return f"_s_{name}({self._print(expr.args[0])})"
        return super()._print_Function(expr)

    def _print_Pow(self, expr, rational=False):
        """A power that is not an integer power or a square root prints as ``math.pow``:
        Python's ``(-1.0)**0.5`` is a complex number, ``math.pow`` raises ValueError (and
        the driver falls back to ``f``, which gives nan like C).
        """
        if expr.exp.is_Integer or expr.exp in (sympy.S.Half, -sympy.S.Half):
            return super()._print_Pow(expr, rational=rational)
        return f"_m.pow({self._print(expr.base)}, {self._print(expr.exp)})"


def print_numpy(expr) -> str:
    """Print one sympy expression as NumPy code (module ``_np``)."""
    return BiosnnNumPyPrinter().doprint(expr)


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
        if "t" in used:  # a float64: 1/t at t = 0 is inf (as in C), not ZeroDivisionError
            self.emit("t = _np.asarray(t, dtype=float)", indent)
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


def generate(spec: KernelSpec) -> str:
    """The Python source of the NumPy kernel of ``spec`` (see numpy_backend)."""
    w = _Writer(spec)
    # no text of a file in generated source: the name and key only as plain tokens
    w.emit(
        f'"""Generated by biosnn.codegen.numpy_backend for model '
        f'{source_token(spec.name)} (key {source_token(spec.key)}). Do not edit."""'
    )
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
    w.emit(
        '"""Drift of one instance: y, p sequences of floats -> list (math module; may '
        'raise ArithmeticError/ValueError where f gives inf/nan)."""',
        1,
    )
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


def _gen_matrix(w: _Writer, name: str, doc: str, rows, shape: str, index: str):
    """``name(t, _y, _p)`` returning ``rows`` (a matrix of expressions) in an array of
    ``shape`` filled with zeros, each nonzero entry stored at ``index.format(i, j)``.
    """
    w.emit()
    w.emit(f"def {name}(t, _y, _p):")
    w.emit(f'"""{doc}"""', 1)
    zero = sympy.S.Zero  # identity first: the n**2 zeros of a large Jacobian are cheap
    entries = [
        (i, j, e)
        for i, row in enumerate(rows)
        for j, e in enumerate(row)
        if e is not zero and sympy.sympify(e) != 0
    ]
    w.bind([e for _, _, e in entries])
    printed = w.cse([e for _, _, e in entries])
    w.emit(f"_out = _np.zeros({shape})", 1)
    for (i, j, _), code in zip(entries, printed):
        w.emit(f"_out[{index.format(i, j)}] = {code}", 1)
    w.emit("return _out", 1)


def _gen_g(w: _Writer):
    spec = w.spec
    _gen_matrix(
        w,
        "g",
        "Noise coefficients g(t, y, p): (n_states, n_noises, n).",
        spec.g,
        f"({spec.n_states}, {spec.n_noises}, _np.shape(_y)[1])",
        "{}, {}",
    )


def _gen_jac(w: _Writer):
    spec = w.spec
    _gen_matrix(
        w,
        "jac",
        "Jacobian d f_i / d y_j: (n, n_states, n_states).",
        spec.jac,
        f"(_np.shape(_y)[1], {spec.n_states}, {spec.n_states})",
        ":, {}, {}",
    )


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
    w.emit('"""(A, B) with f_i = A_i*y_i + B_i, each (n_states, n) (NaN if not linear)."""', 1)
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
