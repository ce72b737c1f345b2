"""Sympy functions introduced by the numerical rewrites, with their NumPy and C definitions.

The rewrites of :mod:`biosnn.codegen.rewrite` replace expressions that lose accuracy or
divide by zero by *safe functions*: sympy ``Function`` subclasses that are exact
mathematical functions (so the symbolic Jacobian and higher derivatives stay exact) and
that every backend evaluates accurately, including at the removable singularity.

The functions
-------------
``XOverExpm1(x)`` = ``x/(exp(x) - 1)``, with the value 1 at ``x = 0``.
    The Hodgkin-Huxley rate functions ``A/(1 - exp(B))`` with ``A/B`` constant are
    ``-(A/B) * XOverExpm1(B)``.  Evaluated as ``x/expm1(x)`` away from 0 and by its Taylor
    series ``1 - x/2 + x**2/12`` for ``|x| < 1e-5``.
``XOverExpm1D1(x)`` ... ``XOverExpm1D8(x)``: its derivatives of order 1 to 8.
    ``XOverExpm1(x).diff(x)`` is ``XOverExpm1D1(x)``, and so on: the Jacobian, the third
    derivatives for Lyapunov coefficients etc. are taken *after* the rewrite and stay
    safe.  Away from 0 they are evaluated in closed form: with ``g = 1/expm1(x)`` and
    ``h = 1 + g = -1/expm1(-x)`` (both accurate), ``g' = h' = -g*h`` and
    ``d^n/dx^n [x g] = x P_n(g, h) + n P_{n-1}(g, h)`` with polynomials ``P_n``; for
    ``|x| < 2`` (orders 1-3; ``|x| < 3.5`` for orders >= 4) by the Taylor series
    ``sum_m B_{m+n} x**m / m!`` (Bernoulli numbers, ``B_1 = -1/2``; radius of convergence
    2*pi), truncated below 1e-18 relative and evaluated in ``x**2``.  Measured relative
    accuracy against mpmath: about 1e-15 for orders 0-3, below 1e-12 up to order 8.

Use :func:`x_over_expm1_derivative` to get the class of a given order (0 gives
``XOverExpm1``).  All classes are listed in :data:`SAFE_FUNCTIONS`.

Printing protocol (read by the NumPy and C backends)
----------------------------------------------------
Every safe function class ``F`` (a subclass of :class:`SafeFunction`) has one argument and
the class attributes

* ``F.c_name`` - the name of a ``static inline double F.c_name(double)`` defined in
  :data:`C_PRELUDE`.  C printers print ``F(arg)`` as ``F.c_name(<arg printed>)`` and put
  ``C_PRELUDE`` (once) at the top of the translation unit (it needs ``<math.h>``).
  ``F._ccode(printer)`` does exactly this, so a ``C99CodePrinter`` subclass prints it
  without any extra code.
* ``F.numpy_name`` - the key of its vectorized implementation in :data:`NUMPY_FUNCTIONS`
  (``name -> callable(ndarray) -> ndarray``; the same string as ``c_name``).  NumPy
  printers print ``F(arg)`` as ``F.numpy_name(<arg printed>)`` and put
  ``NUMPY_FUNCTIONS`` into the namespace the generated source is executed in.
  ``F._numpycode(printer)`` does this.

Numeric evaluation in sympy (``evalf``, ``N``) is exact to the requested precision
(mpmath with extra working precision), and ``F(0)`` evaluates to the exact rational
Bernoulli number.  ``expr.rewrite(sympy.exp)`` gives back the plain formula.

Examples
--------
>>> import sympy
>>> from biosnn.codegen.functions import XOverExpm1, NUMPY_FUNCTIONS
>>> x = sympy.Symbol("x", real=True)
>>> XOverExpm1(0)
1
>>> XOverExpm1(x).diff(x).diff(x)
XOverExpm1D2(x)
>>> float(NUMPY_FUNCTIONS["bs_xexpm1"](0.0)), float(NUMPY_FUNCTIONS["bs_xexpm1_d1"](0.0))
(1.0, -0.5)
"""

from __future__ import annotations

import math

import sympy
from sympy.core.function import ArgumentIndexError

__all__ = [
    "SafeFunction",
    "XOverExpm1",
    "x_over_expm1_derivative",
    "SAFE_FUNCTIONS",
    "NUMPY_FUNCTIONS",
    "C_PRELUDE",
    "MAX_ORDER",
]

# The constants, exact coefficients and NumPy definitions live in the sympy-free module
# biosnn.codegen.safe_numpy (warm processes import it without sympy); re-exported here.
from biosnn.codegen.safe_numpy import (  # noqa: E402,F401
    _BERNOULLI,
    _POLYS,
    _SERIES,
    HIGH_ORDER_SERIES_RADIUS,
    MAX_ORDER,
    NUMPY_FUNCTIONS,
    ORDER0_SERIES_RADIUS,
    SERIES_RADIUS,
    _c_name,
    _poly_terms,
    _series_radius,
)

# -- C implementations ------------------------------------------------------------------------


def _c_double(value: float) -> str:
    return repr(float(value))


def _c_poly(poly: dict) -> str:
    terms = []
    for c, i, j in _poly_terms(poly):
        factors = [_c_double(c)] + ["g"] * i + ["h"] * j
        terms.append("*".join(factors))
    return " + ".join(terms) if terms else "0.0"


def _c_series(series: tuple, order: int) -> str:
    lone, parity, coeffs = series
    expr = _c_double(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        expr = f"({_c_double(c)} + x2*{expr})"
    if parity:
        expr = f"x*{expr}"
    if order == 1:
        expr = f"{_c_double(lone)} + {expr}"
    return expr


def _c_order0() -> str:
    return (
        f"static inline double {_c_name(0)}(double x) {{\n"
        f"    /* x/(exp(x) - 1), 1 at x = 0 */\n"
        f"    if (fabs(x) < {_c_double(ORDER0_SERIES_RADIUS)}) return 1.0 - x*(0.5 - x/12.0);\n"
        f"    return x/expm1(x);\n"
        f"}}\n"
    )


def _c_derivative(order: int) -> str:
    return (
        f"static inline double {_c_name(order)}(double x) {{\n"
        f"    /* d^{order}/dx^{order} of x/(exp(x) - 1) */\n"
        f"    if (fabs(x) < {_c_double(_series_radius(order))}) {{\n"
        f"        const double x2 = x*x;\n"
        f"        return {_c_series(_SERIES[order], order)};\n"
        f"    }}\n"
        f"    {{\n"
        f"        const double g = 1.0/expm1(x), h = -1.0/expm1(-x);\n"
        f"        const double r = x*({_c_poly(_POLYS[order])})"
        f" + {order}.0*({_c_poly(_POLYS[order - 1])});\n"
        f"        return isfinite(r) ? r : 0.0;\n"
        f"    }}\n"
        f"}}\n"
    )


#: C99 definitions (static inline) of every safe function; needs ``<math.h>``.
C_PRELUDE = (
    "/* biosnn safe functions (biosnn/codegen/functions.py) */\n"
    + _c_order0()
    + "".join(_c_derivative(n) for n in range(1, MAX_ORDER + 1))
)


# -- arbitrary precision (sympy evalf) --------------------------------------------------------


def _mp_value(order: int, x, prec: int):
    """The ``order``-th derivative at the mpmath number ``x`` with ``prec`` bits."""
    import mpmath

    if x == 0:
        return mpmath.mpf(_BERNOULLI[order].numerator) / _BERNOULLI[order].denominator
    extra = 30 + int((order + 2) * max(0.0, -float(mpmath.log(abs(x), 2))))
    with mpmath.workprec(prec + extra):
        g = 1 / mpmath.expm1(x)
        h = -1 / mpmath.expm1(-x)

        def poly(p):
            return mpmath.fsum(c * g**i * h**j for c, i, j in _poly_terms(p))

        if order == 0:
            value = x * g
        else:
            value = x * poly(_POLYS[order]) + order * poly(_POLYS[order - 1])
        return +value


# -- sympy classes ---------------------------------------------------------------------------


class SafeFunction(sympy.Function):
    """Base of the functions added by rewrites (one argument; see the module docstring)."""

    nargs = 1
    c_name: str = ""
    numpy_name: str = ""

    def _ccode(self, printer):
        return f"{self.c_name}({printer._print(self.args[0])})"

    def _numpycode(self, printer):
        return f"{self.numpy_name}({printer._print(self.args[0])})"

    def _eval_is_real(self):
        return self.args[0].is_real


class _XOverExpm1Base(SafeFunction):
    """Common part of ``x/(exp(x) - 1)`` and its derivatives; ``order`` set per class."""

    order = 0

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            b = _BERNOULLI[cls.order]
            return sympy.Rational(b.numerator, b.denominator)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        if self.order >= MAX_ORDER:
            return self._formula(self.order + 1, self.args[0])
        return x_over_expm1_derivative(self.order + 1)(self.args[0])

    @staticmethod
    def _formula(order, x):
        dummy = sympy.Dummy("x")
        return sympy.diff(dummy / (sympy.exp(dummy) - 1), dummy, order).subs(dummy, x)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return self._formula(self.order, x)

    def _eval_evalf(self, prec):
        x = self.args[0]._evalf(prec + 20)
        if not x.is_Number:
            return None
        import mpmath

        with mpmath.workprec(prec + 20):
            xm = mpmath.mpf(x._to_mpmath(prec + 20))
        value = _mp_value(self.order, xm, prec)
        return sympy.Float._new(value._mpf_, prec)

    def _latex(self, printer):
        arg = printer._print(self.args[0])
        base = rf"\frac{{{arg}}}{{e^{{{arg}}} - 1}}"
        if self.order == 0:
            return base
        return rf"\left({base}\right)^{{({self.order})}}"


def _make_class(order: int) -> type:
    name = "XOverExpm1" if order == 0 else f"XOverExpm1D{order}"
    doc = (
        "``x/(exp(x) - 1)``, equal to 1 at ``x = 0`` (safe; see module docstring)."
        if order == 0
        else f"Derivative of order {order} of ``x/(exp(x) - 1)`` (safe; see module docstring)."
    )
    return type(
        name,
        (_XOverExpm1Base,),
        {
            "order": order,
            "c_name": _c_name(order),
            "numpy_name": _c_name(order),
            "__doc__": doc,
            "__module__": __name__,
        },
    )


_CLASSES = tuple(_make_class(n) for n in range(MAX_ORDER + 1))
XOverExpm1 = _CLASSES[0]
globals().update({cls.__name__: cls for cls in _CLASSES[1:]})

#: Every safe function class (what printers must know).
SAFE_FUNCTIONS = _CLASSES


def x_over_expm1_derivative(order: int) -> type:
    """The safe function class of the ``order``-th derivative of ``x/(exp(x) - 1)``.

    Parameters
    ----------
    order : int
        0 (the function itself) to :data:`MAX_ORDER`.

    Returns
    -------
    type
        A :class:`SafeFunction` subclass.

    Examples
    --------
    >>> x_over_expm1_derivative(0) is XOverExpm1
    True
    """
    if not 0 <= order <= MAX_ORDER:
        raise ValueError(f"order must be between 0 and {MAX_ORDER}, not {order}")
    return _CLASSES[order]


# -- x/(exp(x) - 1) from a known exp(x) (C printing only) ----------------------------------

#: Below this |x|, :class:`XOverExpm1GivenExp` uses the Bernoulli series (``e - 1`` would
#: cancel); above it ``x/(e - 1)`` loses at most a factor ``e/|e - 1| <= 1.6`` in relative
#: accuracy of ``e``.
GIVEN_EXP_SERIES_RADIUS = 1.0


def _c_given_exp() -> str:
    # x/(e^x - 1) = 1 - x/2 + sum_k B_2k x^2k/(2k)!; terms through x^20 (the next one is
    # < 4e-18 for |x| < 1: |B_2k/(2k)!| ~ 2/(2 pi)^2k).  Horner: Estrin's scheme was
    # measured no faster here (the HH lane loops are throughput bound, not latency bound)
    coeffs = [_BERNOULLI[2 * k] / math.factorial(2 * k) for k in range(1, 11)]
    poly = _c_double(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        poly = f"({_c_double(c)} + x2*{poly})"
    return (
        "static inline double bs_xexpm1e(double x, double e) {\n"
        "    /* x/(exp(x) - 1) given e = exp(x): Bernoulli series for |x| < "
        f"{_c_double(GIVEN_EXP_SERIES_RADIUS)},\n"
        "       else x/(e - 1); branch-free, so it vectorizes */\n"
        "    const double x2 = x*x;\n"
        f"    const double s = 1.0 - 0.5*x + x2*{poly};\n"
        f"    return fabs(x) < {_c_double(GIVEN_EXP_SERIES_RADIUS)} ? s : x/(e - 1.0);\n"
        "}\n"
    )


#: C99 definition of ``bs_xexpm1e`` (needs ``<math.h>``).
C_GIVEN_EXP = _c_given_exp()


class XOverExpm1GivenExp(sympy.Function):
    """``x/(e - 1)`` where ``e = exp(x)`` is already known (two arguments: ``x``, ``e``).

    Produced only by :func:`biosnn.codegen.rewrite.share_exponentials` while printing C
    (after all derivatives are taken), so it has no derivative; C printers print it as
    ``bs_xexpm1e(x, e)`` (definition: :data:`C_GIVEN_EXP`).  Accuracy: the series branch
    about 1 ulp; the quotient branch the relative error of ``e`` times ``e/|e - 1|``
    (<= 1.6 for ``|x| >= 1``).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> XOverExpm1GivenExp(x, sympy.exp(x)).rewrite(sympy.exp)
    x/(exp(x) - 1)
    """

    nargs = 2
    c_name = "bs_xexpm1e"

    def _ccode(self, printer):
        return f"bs_xexpm1e({printer._print(self.args[0])}, {printer._print(self.args[1])})"

    def _eval_rewrite_as_exp(self, x, e, **kwargs):
        return x / (sympy.exp(x) - 1)

    def _eval_is_real(self):
        return self.args[0].is_real


# -- non-smooth functions: derivatives almost everywhere -------------------------------------
#
# sympy differentiates floor, ceiling and sign into unprintable objects (an unevaluated
# ``Derivative(floor(x), x)``, ``DiracDelta(x)``), and abs, Min and Max into ``sign`` and
# ``Heaviside``, whose own derivatives are ``DiracDelta`` again.  None of these can be
# printed as code, and no solver or analysis can use a delta function.  The parser builds
# the whitelisted functions from these subclasses instead: same names (so every printer,
# which dispatches on the class name, prints them as before), same evaluation rules, and
# the derivative that holds everywhere except on the set where the function jumps or
# kinks (measure zero):
#
# * ``floor(x)``, ``ceil(x)``, ``sign(x)``: 0;
# * ``abs(x)``: ``sign(x)`` (0 at x = 0);
# * ``maximum(a, b)``: 1 for the argument that is strictly larger, else 0 (0 for both at a
#   tie); ``minimum`` likewise with "strictly smaller" - a Piecewise, printable everywhere.


class floor(sympy.floor):  # noqa: N801 - the printers dispatch on sympy's class name
    """``floor(x)``; derivative 0 (everywhere except at the integers, where it jumps)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_derivative(self, s):
        return sympy.S.Zero


class ceiling(sympy.ceiling):  # noqa: N801
    """``ceil(x)``; derivative 0 (everywhere except at the integers, where it jumps)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_derivative(self, s):
        return sympy.S.Zero


class sign(sympy.sign):  # noqa: N801
    """``sign(x)``; derivative 0 (everywhere except at 0, where it jumps)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_derivative(self, s):
        return sympy.S.Zero


class Abs(sympy.Abs):
    """``abs(x)`` of a real ``x``; derivative ``sign(x)`` (0 at the kink x = 0)."""

    def fdiff(self, argindex=1):
        return sign(self.args[0])

    def _eval_derivative(self, s):
        return sympy.diff(self.args[0], s) * sign(self.args[0])


def _extremum_fdiff(self, argindex, strictly):
    n = len(self.args)
    if not 0 < argindex <= n:
        raise ArgumentIndexError(self, argindex)
    arg = self.args[argindex - 1]
    others = [a for k, a in enumerate(self.args) if k != argindex - 1]
    # not evaluated: a comparison sympy cannot decide (nan, zoo) must not raise here, and
    # simplifying the condition (ITEs of infinities) can take minutes
    cond = (
        sympy.And(*[strictly(arg, o, evaluate=False) for o in others], evaluate=False)
        if len(others) > 1
        else strictly(arg, others[0], evaluate=False)
    )
    return sympy.Piecewise((1, _lift_piecewise(cond)), (0, True), evaluate=False)


def _lift_piecewise(cond):
    """``cond`` with every ``Piecewise`` inside its comparisons lifted out into logic.

    ``Piecewise((a, c), (b, True)) > x`` becomes ``(c & (a > x)) | (~c & (b > x))``.
    sympy folds a Piecewise inside a condition itself (``piecewise_fold`` and
    ``simplify_logic``), which can take minutes when that Piecewise's own conditions are
    nested (``maximum(I, where(I >= 0, 1, I))`` with ``I`` a ``where()``).  A condition
    without a Piecewise is returned unchanged.
    """
    if not cond.has(sympy.Piecewise):
        return cond
    if isinstance(cond, sympy.core.relational.Relational):
        pw = next(e for e in sympy.preorder_traversal(cond) if isinstance(e, sympy.Piecewise))
        terms, before = [], []
        for expr, c in pw.args:
            c = _lift_piecewise(c)
            sides = [side.xreplace({pw: expr}) for side in cond.args]
            branch = _lift_piecewise(type(cond)(*sides, evaluate=False))
            terms.append(sympy.And(*before, c, branch))
            before.append(sympy.Not(c))
        return sympy.Or(*terms)
    return cond.func(*[_lift_piecewise(a) for a in cond.args])


class Max(sympy.Max):
    """``maximum(a, b, ...)``; d/da is 1 where ``a`` is strictly the largest, else 0."""

    def fdiff(self, argindex):
        return _extremum_fdiff(self, argindex, sympy.StrictGreaterThan)


class Min(sympy.Min):
    """``minimum(a, b, ...)``; d/da is 1 where ``a`` is strictly the smallest, else 0."""

    def fdiff(self, argindex):
        return _extremum_fdiff(self, argindex, sympy.StrictLessThan)


#: The whitelisted non-smooth functions, by sympy name (what the parser builds).
NONSMOOTH = {"floor": floor, "ceiling": ceiling, "sign": sign, "Abs": Abs, "Max": Max, "Min": Min}

_SYMPY_NONSMOOTH = {
    sympy.floor: floor,
    sympy.ceiling: ceiling,
    sympy.sign: sign,
    sympy.Abs: Abs,
    sympy.Max: Max,
    sympy.Min: Min,
}
_OURS = frozenset(_SYMPY_NONSMOOTH.values())
#: sympy writes abs(exp(z)) as exp(re(z)) when it cannot prove z real; every biosnn value
#: is real (a complex intermediate is nan in the kernels), so re(z) is z and im(z) is 0.
_PARTS = frozenset({sympy.re, sympy.im})


def as_biosnn(expr):
    """``expr`` with every sympy ``floor``, ``ceiling``, ``sign``, ``Abs``, ``Min``,
    ``Max`` replaced by biosnn's class of the same name (same arguments, not
    re-evaluated), and ``re(z)`` by ``z``, ``im(z)`` by 0 (values are real).

    sympy's own simplifications can create instances of its base classes inside ours
    (``Max(0, Min(v, exp(v)))`` nests a sympy ``Min``); their derivatives are
    ``Heaviside``/``DiracDelta`` again.  Applied to what is differentiated (the
    right-hand sides of a Model and of its KernelSpec).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> type(as_biosnn(sympy.Min(x, 1))) is Min
    True
    """
    if not isinstance(expr, sympy.Basic) or not any(
        type(e) in _SYMPY_NONSMOOTH or type(e) in _PARTS for e in sympy.preorder_traversal(expr)
    ):
        return expr
    return _rebuild(expr)


def _rebuild(expr):
    if not expr.args or isinstance(expr, (sympy.Symbol, sympy.Number)):
        return expr
    args = tuple(_rebuild(a) for a in expr.args)
    if type(expr) in _PARTS:  # re(x) -> x, im(x) -> 0: biosnn computes in real numbers
        return args[0] if type(expr) is sympy.re else sympy.S.Zero
    cls = _SYMPY_NONSMOOTH.get(type(expr))
    if cls is not None or type(expr) in _OURS:
        # not re-evaluated: sympy's Min/Max would nest its own classes again
        return (cls or type(expr))(*args, evaluate=False)
    if all(a is b for a, b in zip(args, expr.args, strict=True)):
        return expr
    return expr.func(*args)
