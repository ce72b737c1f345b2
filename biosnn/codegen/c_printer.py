"""C99 printer for kernel expressions: :class:`BiosnnCPrinter`.

A subclass of sympy's ``C99CodePrinter`` that prints the expressions of a
:class:`~biosnn.codegen.spec.KernelSpec` as compact, branch-free-where-possible C99:

* symbols are mapped to storage by a ``storage`` dict (``{"V": "y[0]", "gNa": "p[3]",
  "t": "t"}``); a symbol missing from the mapping is printed by its name (cse temporaries);
* ``Piecewise`` -> nested ternaries on one line, ``Min``/``Max`` -> ``fmin``/``fmax``,
  ``Abs`` -> ``fabs``, ``sign``, ``floor``/``ceil``, relationals and ``&&``/``||``/``!``;
* ``pi``, ``E`` and every other number symbol -> a double literal (never the ``M_PI``
  macros of POSIX, undeclared under ``-std=c99``), so ``log(2)`` -> ``log(2)``;
* integer powers -> repeated multiplication in parentheses (``(x*x*x)``, so that the
  printed product keeps the precedence of a power inside ``a/b**2``; negative:
  ``1.0/(x*x)``),
  ``x**0.5`` -> ``sqrt(x)``, ``x**-0.5`` -> ``1.0/sqrt(x)``;
* ``expm1``/``log1p`` (``sympy.codegen.cfunctions``) print as the C99 functions;
* functions of :mod:`biosnn.codegen.functions` print by their C name (attribute
  ``c_name`` of the sympy function class, else the lower-case class name) - their C
  definitions come from that module's C prelude.

Examples
--------
>>> import sympy as sp
>>> from biosnn.codegen.c_printer import print_c
>>> V, g = sp.symbols("V g", real=True)
>>> print_c(g*V**3, {"V": "y[0]", "g": "p[0]"})
'(y[0]*y[0]*y[0])*p[0]'
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import precedence

__all__ = ["MAX_MUL_POWER", "BiosnnCPrinter", "print_c"]

#: Largest |integer exponent| printed as repeated multiplication (beyond: ``pow``).
MAX_MUL_POWER = 16


class BiosnnCPrinter(C99CodePrinter):
    """sympy C99 printer with biosnn's storage mapping and numerics (see module doc).

    Parameters
    ----------
    storage : dict of str -> str, optional
        C lvalue for each symbol name (``{"V": "y[0]"}``).
    settings : dict, optional
        Passed to ``C99CodePrinter``.
    """

    def _print_ComplexInfinity(self, expr):
        # sympy's "complex infinity" (1/0, log(0)) where cse or a rewrite folds a branch:
        # undefined, so NAN (as the NumPy printers), reported as a non-finite state
        return "NAN"

    def __init__(self, storage: dict | None = None, settings: dict | None = None):
        settings = dict(settings or {})
        # no M_PI, M_E, M_LN2 ...: they are not ISO C (undeclared under -std=c99), and the
        # NumPy respelling of the network engine would have to define them; constants
        # print as literals (_print_NumberSymbol)
        settings.setdefault("math_macros", {})
        super().__init__(settings)
        self.storage = dict(storage or {})

    # symbols ---------------------------------------------------------------------------
    def _print_Symbol(self, expr):
        name = self.storage.get(expr.name)
        return name if name is not None else super()._print_Symbol(expr)

    # powers ----------------------------------------------------------------------------
    def _print_Pow(self, expr):
        base, exp = expr.base, expr.exp
        if exp.is_Integer and 0 < abs(int(exp)) <= MAX_MUL_POWER:
            n = int(exp)
            b = self.parenthesize(base, precedence(sp.Mul(2, 3, evaluate=False)) + 1)
            prod = "*".join([b] * abs(n))
            if abs(n) > 1:  # the product has Mul precedence, not Pow's: parenthesize
                prod = f"({prod})"
            return prod if n > 0 else "1.0/" + prod
        if exp == sp.Rational(1, 2) or exp == sp.Float(0.5):
            return f"sqrt({self._print(base)})"
        if exp == -sp.Rational(1, 2) or exp == sp.Float(-0.5):
            return f"1.0/sqrt({self._print(base)})"
        if exp == sp.Rational(1, 3):
            return f"cbrt({self._print(base)})"
        return f"pow({self._print(base)}, {self._print(exp)})"

    # piecewise and logic ---------------------------------------------------------------
    def _print_Piecewise(self, expr):
        *pieces, (last_e, last_c) = expr.args
        tail = (
            self._print(last_e)
            if last_c == sp.true
            else (f"({self._cond(last_c)} ? ({self._print(last_e)}) : NAN)")
        )
        for e, c in reversed(pieces):
            tail = f"({self._cond(c)} ? ({self._print(e)}) : {tail})"
        return tail

    def _cond(self, cond):
        """A condition in parentheses (relationals and And/Or already carry them)."""
        text = self._print(cond)
        if isinstance(cond, (sp.Rel, sp.And, sp.Or)):
            return text
        return f"({text})"

    def _print_And(self, expr):
        return "(" + " && ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " || ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"!({self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "1"

    def _print_BooleanFalse(self, expr):
        return "0"

    def _print_Relational(self, expr):
        lhs = self.parenthesize(expr.lhs, precedence(expr))
        rhs = self.parenthesize(expr.rhs, precedence(expr))
        return f"({lhs} {expr.rel_op} {rhs})"

    # functions -------------------------------------------------------------------------
    def _print_Min(self, expr):
        return self._nested("fmin", expr.args)

    def _print_Max(self, expr):
        return self._nested("fmax", expr.args)

    def _nested(self, name, args):
        out = self._print(args[-1])
        for a in reversed(args[:-1]):
            out = f"{name}({self._print(a)}, {out})"
        return out

    def _print_Abs(self, expr):
        return f"fabs({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        a = self._print(expr.args[0])
        return f"(double)(({a} > 0) - ({a} < 0))"

    def _print_floor(self, expr):
        return f"floor({self._print(expr.args[0])})"

    def _print_ceiling(self, expr):
        return f"ceil({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"(({self._print(expr.args[0])} > 0) ? 1.0 : 0.0)"

    def _print_Function(self, expr):
        cname = getattr(type(expr), "c_name", None)
        if cname is not None:
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{cname}({args})"
        return super()._print_Function(expr)

    # numbers ---------------------------------------------------------------------------
    def _print_Integer(self, expr):
        return f"{int(expr)}"

    def _print_Float(self, expr):
        v = float(expr)
        return repr(v) if math.isfinite(v) else super()._print_Float(expr)

    def _print_NumberSymbol(self, expr):
        """pi, E (``exp(1)``), ... as the nearest double, like any other number."""
        return repr(float(expr))

    _print_Pi = _print_Exp1 = _print_NumberSymbol


def print_c(expr, storage: dict | None = None) -> str:
    """Print one sympy expression as C99 with the given symbol storage.

    Parameters
    ----------
    expr : sympy.Basic
        Expression or boolean.
    storage : dict of str -> str, optional
        Symbol name -> C lvalue.

    Returns
    -------
    str
    """
    return BiosnnCPrinter(storage).doprint(expr)
