"""Python source that evaluates sympy expressions numerically: biosnn's one interpreter.

Every number computed from a sympy expression outside a kernel (initial values, the
matrices of the ``exact`` method, a threshold at the start of a run) comes from here: the
expressions are *printed* once, while sympy is loaded, as a Python function that performs
NumPy operations in a fixed order, and the printed source runs.  The warm start path
(docs/architecture.md, "Warm start") stores that source and runs it again without importing
sympy, so a warm and a cold process compute the *same bits*.  :func:`evaluate` prints and
runs one expression at once.

* ``a + b + c`` (sympy's argument order) -> ``(a + b) + c``, products likewise, ``x**y``
  -> ``numpy.power(x, y)``, numbers -> ``numpy.float64``;
* ``Piecewise`` -> ``numpy.select(conditions, values, default=nan)``;
* ``Min``/``Max``/``And``/``Or`` -> a left fold of the binary ufunc;
* the safe functions of :mod:`biosnn.codegen.functions` -> their NumPy implementation;
* a long list of values that are mostly 0 (``A`` of a linear model of many states) ->
  a list of ``numpy.float64(0.0)`` with the nonzero entries assigned: the same values,
  printed in time and space proportional to the nonzero entries.

Equal subtrees are computed once (the operations are pure, so this changes no bit).  The
source is our own output, stored in the cache directory and compiled with ``exec`` in a
namespace that holds only NumPy and two helpers; user text never reaches it.

This module sits below :mod:`biosnn.equations` (a Model computes its initial values with
it) and imports nothing of biosnn but :mod:`biosnn.errors` and
:mod:`biosnn.codegen.safe_numpy` (docs/architecture.md, "Layers").

Examples
--------
>>> import sympy
>>> from biosnn.codegen.numeric_source import evaluate, numeric_source, compile_numeric
>>> x = sympy.Symbol("x", real=True)
>>> src = numeric_source({"f": [sympy.exp(x) + 1]})
>>> float(compile_numeric(src)["f"]({"x": 0.0})[0])
2.0
>>> float(evaluate(sympy.exp(x) + 1, {"x": 0.0}))
2.0
"""

from __future__ import annotations

__all__ = ["numeric_source", "compile_numeric", "evaluate", "FORMAT"]

#: Bump when the printed form changes (part of every cache key that stores such source).
FORMAT = "2"
#: A function of more values than this, most of them 0 (the matrix A of a large linear
#: model), is printed sparsely: a list of ``float64(0)`` with the nonzero entries set.
SPARSE_MIN = 64

_FUNCS = {
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "Abs": "abs",
    "sign": "sign",
    "floor": "floor",
    "ceiling": "ceil",
    "StrictLessThan": "less",
    "LessThan": "less_equal",
    "StrictGreaterThan": "greater",
    "GreaterThan": "greater_equal",
    "Equality": "equal",
    "Unequality": "not_equal",
    "Not": "logical_not",
    "expm1": "expm1",
    "log1p": "log1p",
}
_FOLDS = {"Min": "minimum", "Max": "maximum", "And": "logical_and", "Or": "logical_or"}


class _Unknown(ValueError):
    """A construct the printer does not know (``args[0]``: the sympy node)."""

    def __str__(self) -> str:
        return f"cannot print {self.args[0]} as numeric source"


class _Printer:
    """Prints one function body: each distinct node is one assignment ``_tK = ...``."""

    def __init__(self):
        self.lines, self.names, self.safe = [], {}, set()

    def node(self, e) -> str:
        import sympy

        if e in self.names:
            return self.names[e]
        if e.is_Symbol:
            code = f"_val(_v, {e.name!r})"
        elif e.is_Number or e in (sympy.pi, sympy.E):
            x = float(e)  # inf and nan as strings: _f64('inf'), not an undefined name
            code = f"_f64({x!r})" if x == x and abs(x) != float("inf") else f"_f64({repr(x)!r})"
        elif e is sympy.true or e is sympy.false:
            code = f"_np.bool_({bool(e)!r})"
        elif isinstance(e, sympy.Piecewise):
            conds = [f"_np.asarray({self.node(c)}, dtype=bool)" for _, c in e.args]
            vals = [self.node(v) for v, _ in e.args]
            code = f"_np.select([{', '.join(conds)}], [{', '.join(vals)}], default=_np.nan)"
        else:
            args = [self.node(a) for a in e.args]
            name = type(e).__name__
            if e.is_Add or e.is_Mul:
                op = " + " if e.is_Add else " * "
                code = args[0]
                for a in args[1:]:
                    code = f"({code}{op}{a})"
            elif e.is_Pow:
                code = f"_np.power({args[0]}, {args[1]})"
            elif name in _FUNCS:
                code = f"_np.{_FUNCS[name]}({', '.join(args)})"
            elif getattr(e.func, "numpy_name", ""):
                self.safe.add(e.func.numpy_name)
                code = f"_NF[{e.func.numpy_name!r}](_np.asarray({args[0]}, dtype=float))"
            elif name in _FOLDS:
                code = args[0]
                for a in args[1:]:
                    code = f"_np.{_FOLDS[name]}({code}, {a})"
            else:
                raise _Unknown(e)
        var = f"_t{len(self.names)}"
        self.lines.append(f"        {var} = {code}")
        self.names[e] = var
        return var


def numeric_source(functions: dict) -> str:
    """Python source of ``name(values) -> tuple`` for each ``name -> [expr, ...]``.

    ``values`` maps symbol names to numbers or arrays (one value per instance); a missing
    name raises :class:`~biosnn.errors.ModelError`.  Raises ValueError for a construct
    that is not one of those listed in the module docstring.
    """
    import sympy

    out, safe = [], set()
    zero = sympy.S.Zero
    for name, exprs in functions.items():
        p = _Printer()
        exprs = list(exprs)
        zeros = sum(1 for e in exprs if e is zero or e == 0)
        sparse = len(exprs) > SPARSE_MIN and 2 * zeros > len(exprs)
        if sparse:  # the entries of a large sparse matrix: only the nonzero ones printed
            results = [
                (k, p.node(sympy.sympify(e)))
                for k, e in enumerate(exprs)
                if not (e is zero or e == 0)
            ]
            body = (
                f"        _out = [_f64(0.0)] * {len(exprs)}\n"
                + "".join(f"        _out[{k}] = {r}\n" for k, r in results)
                + "        return tuple(_out)\n"
            )
        else:
            results = [p.node(sympy.sympify(e)) for e in exprs]
            body = f"        return ({''.join(r + ', ' for r in results)})\n"
        safe |= p.safe
        out.append(
            f"def {name}(_v):\n    with _np.errstate(all='ignore'):\n"
            + "\n".join(p.lines)
            + ("\n" if p.lines else "")
            + body
        )
    head = (
        f"# generated by biosnn.codegen.numeric_source (format {FORMAT}); safe: "
        f"{','.join(sorted(safe))}\n"
    )
    return head + "\n".join(out)


def _val(values, name):
    import numpy as np

    from biosnn.errors import ModelError

    if name not in values:
        raise ModelError(f"cannot evaluate: {name} has no value")
    return np.asarray(values[name], dtype=float)


def compile_numeric(source: str, filename: str = "<biosnn-numeric>") -> dict:
    """Compile source printed by :func:`numeric_source`: name -> function."""
    import numpy as np

    namespace = {"_np": np, "_f64": np.float64, "_val": _val}
    first = source.split("\n", 1)[0]
    if first.rsplit("safe: ", 1)[-1].strip():  # only then: functions.py needs sympy
        from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS

        namespace["_NF"] = NUMPY_FUNCTIONS
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - printed by us
    return {k: v for k, v in namespace.items() if callable(v) and not k.startswith("_")}


def evaluate(expr, values: dict):
    """Evaluate a sympy expression numerically with NumPy; ``values``: name -> array.

    Prints ``expr`` with :func:`numeric_source` and runs the printed function, so the
    result has the bits that the stored source of a warm process gives.  Knows every
    construct a :class:`~biosnn.codegen.spec.KernelSpec` may contain (including
    ``expm1``, ``log1p`` and the safe functions of :mod:`biosnn.codegen.functions`);
    never ``eval`` of user text, never ``lambdify``.

    Raises
    ------
    ModelError
        A symbol without a value, or a construct that cannot be evaluated.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> evaluate(sympy.Max(x, 1), {"x": [0.0, 2.0]}).tolist()
    [1.0, 2.0]
    """
    from biosnn.errors import ModelError

    try:
        source = numeric_source({"value": [expr]})
    except _Unknown as exc:
        raise ModelError(f"cannot evaluate {exc.args[0]} numerically") from None
    return compile_numeric(source, "<biosnn-evaluate>")["value"](values)[0]
