"""Named numerical rewrites: exact identities that print into accurate, NaN-free code.

Each pass is a pure function ``expr -> expr`` that walks the expression bottom-up and
rewrites the sub-expressions matching one pattern; it is tested on its own
(tests/codegen/test_rewrite.py).  :func:`make_numerically_safe` applies all of them in
order; ``Model.kernel_spec()`` calls it on every expression a backend prints (right-hand
sides, noise, aliases, events), *before* the Jacobian and other derivatives are taken, so
the derivatives are safe too (see :mod:`biosnn.codegen.functions`).

Passes
------
:func:`removable_singularities`
    ``A/(exp(B) - 1)`` and ``A/(1 - exp(B))`` with ``A/B`` regular where ``B = 0`` (the
    Hodgkin-Huxley rate functions, e.g. ``0.1*(V + 40)/(1 - exp(-(V + 40)/10))``) become
    ``(A/B) * XOverExpm1(B)`` (resp. ``-(A/B) * XOverExpm1(B)``), finite at ``B = 0``.  Also
    matched: the denominator scaled by a number (``10 - 10*exp(B)``, after unit
    conversion), ``a + b*exp(C)`` with ``-b/a`` a positive number other than 1 (``B = C +
    log(-b/a)``), and ``A`` given as several factors.  ``A/B`` is found exactly for ``B``
    linear in one of its symbols (every rate function in the library); with floating-point
    coefficients ``A`` and ``B`` count as proportional when they agree to 1e-12 relative.
:func:`use_expm1`
    ``c*exp(x) - c`` inside a sum -> ``c*expm1(x)`` (``sympy.codegen.cfunctions.expm1``).
:func:`use_log1p`
    ``log(1 + x)`` -> ``log1p(x)`` (``sympy.codegen.cfunctions.log1p``).

Printing pass (C backend only, applied to a group of expressions printed together):

:func:`share_exponentials`
    ``exp(c*s + d)`` for several ``(c, d)`` with the same symbol ``s`` -> powers of one
    shared ``exp(c0*s + d0)`` times constants (HH's six rate exponentials need three
    ``exp`` calls); ``XOverExpm1`` of such an argument -> ``XOverExpm1GivenExp(x, e)``.
    Not one of :data:`PASSES`: it is applied after the Jacobian is taken, when printing.

Not matched (left unchanged, still correct): a singular quotient whose numerator was
expanded into separate terms (``V/(1 - exp(-V)) + 40/(1 - exp(-V))``).

Examples
--------
>>> import sympy
>>> from biosnn.codegen.rewrite import make_numerically_safe
>>> V = sympy.Symbol("V", real=True)
>>> alpha_m = sympy.Rational(1, 10)*(V + 40)/(1 - sympy.exp(-(V + 40)/10))
>>> make_numerically_safe(alpha_m)
XOverExpm1(-V/10 - 4)
>>> make_numerically_safe(alpha_m).subs(V, -40)
1
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from biosnn.codegen.functions import XOverExpm1, XOverExpm1GivenExp

__all__ = [
    "removable_singularities",
    "use_expm1",
    "use_log1p",
    "make_numerically_safe",
    "PASSES",
    "share_exponentials",
]

#: Relative tolerance for comparing floating-point coefficients.
RTOL = 1e-12


# -- traversal -------------------------------------------------------------------------


def _bottom_up(expr, rule: Callable):
    """Apply ``rule`` to every node of ``expr``, children first.

    ``rule(node)`` returns a replacement or None (keep).  Non-sympy leaves (Python
    numbers, strings in Piecewise conditions) are returned unchanged.
    """
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return expr
    if isinstance(expr, (sympy.Symbol, sympy.Number)):
        return expr
    new_args = tuple(_bottom_up(arg, rule) for arg in expr.args)
    if any(a is not b for a, b in zip(new_args, expr.args, strict=True)):
        expr = expr.func(*new_args)
    replaced = rule(expr)
    return expr if replaced is None else replaced


# -- numeric helpers -------------------------------------------------------------------


def _close(a, b) -> bool:
    """True if two numbers are equal (exact) or agree to :data:`RTOL` (floats)."""
    if a == b:
        return True
    if not (a.is_Number and b.is_Number):
        return False
    if a.is_Rational and b.is_Rational:
        return False
    fa, fb = float(a), float(b)
    return abs(fa - fb) <= RTOL * max(abs(fa), abs(fb))


def _is_zero(expr, scale: float) -> bool:
    """True if the expanded ``expr`` is 0, up to float round-off relative to ``scale``."""
    expr = sympy.expand(expr)
    if expr == 0:
        return True
    for term in sympy.Add.make_args(expr):
        coeff = term.as_coeff_Mul()[0]
        if not coeff.is_Float or abs(float(coeff)) > RTOL * scale:
            return False
    return True


def _coeff_scale(expr) -> float:
    """Largest absolute numeric coefficient of the terms of the expanded ``expr``."""
    coeffs = [term.as_coeff_Mul()[0] for term in sympy.Add.make_args(sympy.expand(expr))]
    return max([abs(float(c)) for c in coeffs if c.is_Number] + [1.0])


# -- removable singularities -------------------------------------------------------------


def _exp_minus_one(den):
    """Match ``den = k*(exp(B) - 1)``; return ``(k, B)`` or None.

    Accepts ``a + b*exp(C)`` (possibly times a number) with ``a``, ``b`` numbers and
    ``-b/a > 0``; then ``den = -a*(exp(B) - 1)`` with ``B = C + log(-b/a)``.
    """
    outer, core = den.as_coeff_Mul()
    if not isinstance(core, sympy.Add) or len(core.args) != 2:
        return None
    a, rest = core.as_coeff_Add()
    if a == 0 or rest.is_Add:
        return None
    b, e = rest.as_coeff_Mul()
    if not isinstance(e, sympy.exp) or not b.is_Number:
        return None
    rho = -b / a
    if not rho.is_positive:
        return None
    arg = e.args[0]
    if not _close(rho, sympy.Integer(1)):
        arg = arg + sympy.log(rho)
    return -a * outer, arg


def _linear_ratio(factor, arg):
    """``factor/arg`` if it is regular at ``arg = 0`` (found via a linear symbol), else None.

    Looks for a symbol ``s`` of ``arg`` in which ``arg`` is linear; ``r = d factor/ds /
    d arg/ds`` must be free of ``s`` and ``factor - r*arg`` must vanish identically.
    """
    common = factor.free_symbols & arg.free_symbols
    for s in sorted(common, key=lambda sym: sym.name):
        d_arg = sympy.diff(arg, s)
        if d_arg == 0 or s in d_arg.free_symbols:
            continue
        ratio = sympy.cancel(sympy.diff(factor, s) / d_arg)
        if s in ratio.free_symbols:
            continue
        scale = max(_coeff_scale(factor), _coeff_scale(ratio * arg))
        if _is_zero(factor - ratio * arg, scale):
            return ratio
    return None


def _clean_number(value):
    """A float that is an integer up to round-off (``-1.0000000000000002``) as an Integer."""
    if value.is_Float and abs(float(value) - round(float(value))) <= RTOL * abs(float(value)):
        return sympy.Integer(round(float(value)))
    return value


def _singular_quotient(node):
    """Rewrite one Mul containing ``(k*(exp(B) - 1))**-1`` times a multiple of ``B``."""
    if not isinstance(node, sympy.Mul):
        return None
    factors = list(node.args)
    for i, fac in enumerate(factors):
        if not (isinstance(fac, sympy.Pow) and fac.exp == -1):
            continue
        match = _exp_minus_one(fac.base)
        if match is None:
            continue
        k, arg = match
        others = factors[:i] + factors[i + 1 :]
        for j, num in enumerate(others):
            if not num.free_symbols & arg.free_symbols:
                continue
            ratio = _linear_ratio(num, arg)
            if ratio is None:
                continue
            rest = sympy.Mul(*(others[:j] + others[j + 1 :]))
            return rest * _clean_number(ratio / k) * XOverExpm1(arg)
    return None


def removable_singularities(expr):
    """Rewrite ``A/(exp(B) - 1)`` and ``A/(1 - exp(B))`` with ``A/B`` regular.

    Parameters
    ----------
    expr : sympy.Basic
        Any expression (also Piecewise, relations, booleans).

    Returns
    -------
    sympy.Basic
        The expression with each such quotient replaced by ``(A/B) * XOverExpm1(B)``
        (times -1 for ``1 - exp(B)``); ``expr`` itself when nothing matches.

    Examples
    --------
    >>> import sympy
    >>> V = sympy.Symbol("V", real=True)
    >>> removable_singularities(0.01*(V + 55)/(1 - sympy.exp(-(V + 55)/10)))
    0.1*XOverExpm1(-V/10 - 11/2)
    """
    return _bottom_up(expr, _singular_quotient)


# -- expm1 -----------------------------------------------------------------------------------


def _expm1_sum(node):
    """In a sum, replace ``c*exp(x) + (-c)`` by ``c*expm1(x)``."""
    if not isinstance(node, sympy.Add):
        return None
    const, rest = node.as_coeff_Add()
    if const == 0:
        return None
    terms = list(sympy.Add.make_args(rest))
    for i, term in enumerate(terms):
        c, e = term.as_coeff_Mul()
        if isinstance(e, sympy.exp) and _close(c, -const):
            others = terms[:i] + terms[i + 1 :]
            return sympy.Add(c * expm1(e.args[0]), *others)
    return None


def use_expm1(expr):
    """Replace ``exp(x) - 1`` (and ``c*exp(x) - c``) by ``expm1(x)``.

    Accurate for tiny ``x``, where ``exp(x) - 1`` loses all digits.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> use_expm1(1/(sympy.exp(x) - 1))
    1/expm1(x)
    """
    return _bottom_up(expr, _expm1_sum)


# -- log1p ------------------------------------------------------------------------------------


def _log1p_node(node):
    """``log(1 + x)`` -> ``log1p(x)``."""
    if not isinstance(node, sympy.log) or len(node.args) != 1:
        return None
    const, rest = node.args[0].as_coeff_Add()
    if rest == 0 or not _close(const, sympy.Integer(1)):
        return None
    return log1p(rest)


def use_log1p(expr):
    """Replace ``log(1 + x)`` by ``log1p(x)`` (accurate for tiny ``x``).

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> use_log1p(sympy.log(1 + sympy.exp(x)))
    log1p(exp(x))
    """
    return _bottom_up(expr, _log1p_node)


# -- all together -----------------------------------------------------------------------------

#: The passes :func:`make_numerically_safe` applies, in order.
PASSES = (removable_singularities, use_expm1, use_log1p)


def make_numerically_safe(expr):
    """Apply every pass of :data:`PASSES` in order.

    Parameters
    ----------
    expr : sympy.Basic or number
        An expression in internal units (numbers pass through unchanged).

    Returns
    -------
    sympy.Basic
        The rewritten expression: mathematically identical, numerically safe.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> make_numerically_safe(sympy.log(1 + x) + 1/(sympy.exp(x) - 1))
    log1p(x) + 1/expm1(x)
    """
    for rewrite in PASSES:
        expr = rewrite(expr)
    return expr


# -- shared exponentials (printing) ---------------------------------------------------------

#: Largest power of a shared exponential used for another one (``exp(4u) = e*e*e*e``:
#: the relative error grows about linearly with the power, to <= ~5 ulp at 4).
MAX_SHARED_POWER = 4
#: Largest |d - k*d0| folded into a constant factor: it moves where the shared form
#: overflows/underflows by at most this much in the exponent (states far outside any
#: physiological range).
MAX_SHARED_SHIFT = 20


def _linear_exponent(arg):
    """``(s, c, d)`` with ``arg = c*s + d`` for one symbol ``s`` and numbers ``c != 0, d``."""
    syms = arg.free_symbols
    if len(syms) != 1:
        return None
    (s,) = syms
    c = sympy.diff(arg, s)
    if not c.is_Number or c == 0:
        return None
    d = sympy.expand(arg - c * s)
    return (s, c, d) if d.is_Number else None


def _power_of(c, c0):
    """``k`` if ``c = k*c0`` for an integer 1 <= k <= MAX_SHARED_POWER, else None."""
    ratio = c / c0
    k = round(float(ratio))
    if not 1 <= k <= MAX_SHARED_POWER:
        return None
    return k if _close(ratio, sympy.Integer(k)) else None


def share_exponentials(exprs, prefix: str = "_bse"):
    """Compute the exponentials of a group of expressions from as few ``exp`` as possible.

    For each symbol ``s``, the arguments ``c*s + d`` (numbers ``c``, ``d``) of ``exp`` and
    of ``XOverExpm1`` are sorted by ``|c|``; each is written as ``k*(c0*s + d0) + shift``
    of an earlier *base* argument when ``c/c0`` is an integer ``k`` in
    ``1..MAX_SHARED_POWER`` and ``|shift| <= MAX_SHARED_SHIFT``, else it becomes a base.
    A base used by at least two distinct arguments gets a symbol ``e_j = exp(c0*s + d0)``;
    then ``exp(c*s + d) -> e_j**k * exp(shift)`` (``exp(shift)`` a float) and
    ``XOverExpm1(c*s + d) -> XOverExpm1GivenExp(c*s + d, e_j**k * exp(shift))``.

    Mathematically exact; numerically each shared value is within about ``2k + 1`` ulp
    of its own ``exp`` (``XOverExpm1GivenExp`` is as accurate as ``XOverExpm1``
    for ``|x| < 1`` and within ``1.6`` times that elsewhere).

    Parameters
    ----------
    exprs : sequence of sympy expressions
        Printed together (one C function): the bases are shared by all of them.
    prefix : str
        Names of the base symbols (``_bse0``, ``_bse1``, ...; the parser refuses user
        names that start with ``_``).

    Returns
    -------
    defs : list of (sympy.Symbol, sympy.Expr)
        The bases, to be computed first (``e_j = exp(...)``).
    exprs : list
        The rewritten expressions.

    Examples
    --------
    >>> import sympy
    >>> V = sympy.Symbol("V", real=True)
    >>> defs, out = share_exponentials([sympy.exp(-V/80), 0.07*sympy.exp(-V/20)])
    >>> defs
    [(_bse0, exp(-V/80))]
    >>> out
    [_bse0, 0.07*_bse0**4]
    """
    exprs = [sympy.sympify(e) for e in exprs]
    found: dict = {}  # (s, c, d) -> nodes with that argument
    for e in exprs:
        for node in sympy.preorder_traversal(e):
            if isinstance(node, (sympy.exp, XOverExpm1)):
                lin = _linear_exponent(node.args[0])
                if lin is not None:
                    found.setdefault(lin, []).append(node)
    by_symbol: dict = {}
    for s, c, d in found:
        by_symbol.setdefault(s, []).append((c, d))
    defs, mapping = [], {}
    for s in sorted(by_symbol, key=lambda sym: sym.name):
        bases = []  # [c0, d0, [(c, d, k, shift), ...]]
        for c, d in sorted(by_symbol[s], key=lambda cd: (abs(float(cd[0])), float(cd[1]))):
            for base in bases:
                k = _power_of(c, base[0])
                if k is not None and abs(float(d - k * base[1])) <= MAX_SHARED_SHIFT:
                    base[2].append((c, d, k, d - k * base[1]))
                    break
            else:
                bases.append([c, d, [(c, d, 1, sympy.Integer(0))]])
        for c0, d0, members in bases:
            if len(members) < 2:
                continue
            sym = sympy.Symbol(f"{prefix}{len(defs)}", real=True, positive=True)
            defs.append((sym, sympy.exp(c0 * s + d0)))
            for c, d, k, shift in members:
                factor = (
                    sympy.Integer(1) if shift == 0 else sympy.Float(sympy.exp(shift).evalf(30), 30)
                )
                value = factor * sym**k
                for node in found[(s, c, d)]:
                    mapping[node] = (
                        value
                        if isinstance(node, sympy.exp)
                        else XOverExpm1GivenExp(node.args[0], value)
                    )
    if not mapping:
        return [], exprs
    return defs, [e.xreplace(mapping) for e in exprs]
