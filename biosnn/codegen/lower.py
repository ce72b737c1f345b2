"""Lowering: a Model -> the :class:`~biosnn.codegen.spec.KernelSpec` every backend prints.

The stage between the equations and the printers (docs/architecture.md, "One path for
data").  :func:`lower` reads the sympy form of a model
(:meth:`~biosnn.equations.model.Model.symbolic`: right-hand sides with aliases substituted,
noise coefficients, events, internal units) and produces the flat description a backend
needs:

* the numerically safe rewrites of :mod:`biosnn.codegen.rewrite` applied to every
  expression (``x/(exp(x) - 1)`` -> ``XOverExpm1(x)``, ``exp(x) - 1`` -> ``expm1(x)`` ...);
* the exact Jacobian (only the entries a state appears in are differentiated) and
  ``d f/d t``;
* the crossing function of a single-relation threshold (``a > b`` -> ``a - b``);
* the split ``f_i = A_i y_i + B_i`` for exponential Euler, and ``f = A y + b`` when the
  model is linear (the ``exact`` method);
* a key (sha256 of the canonical content) that names the kernel in every cache;
* a check that every printed expression is finite and real somewhere (a ModelError naming
  the equation otherwise).

:func:`layout` gives the sympy-free :class:`~biosnn.codegen.spec.KernelLayout` of a model,
from the cache directory on a warm start.  ``Model.kernel_spec()`` and ``Model.layout``
call these two functions.

Examples
--------
>>> from biosnn import Model
>>> from biosnn.codegen.lower import lower
>>> m = Model("dv/dt = (El - v)/tau : volt", params={"El": "-65 mV", "tau": "10 ms"},
...           threshold="v > -50*mV")
>>> spec = lower(m)
>>> spec.jac, spec.crossing, spec.linear is not None
(((-1/tau,),), v + 50, True)
"""

from __future__ import annotations

import hashlib
import json

from biosnn.codegen.numeric_source import numeric_source
from biosnn.codegen.spec import KernelLayout, KernelSpec
from biosnn.equations import manifest
from biosnn.equations.symbolic import check_finite
from biosnn.errors import ModelError

__all__ = ["lower", "layout", "numeric_source_of"]


def _jacobian(f, ys):
    """``(jac, nonzero)``: ``jac[i][j] = d f_i / d y_j`` as a tuple of tuples, and the
    ``(i, j)`` of the entries that may be nonzero.  Only the states an equation contains
    are differentiated (a model of n coupled states has O(n) nonzero entries, not n**2).
    """
    import sympy

    index = {y: j for j, y in enumerate(ys)}
    zero = sympy.S.Zero
    jac, nonzero = [], []
    for i, fi in enumerate(f):
        row = [zero] * len(ys)
        for j in sorted(index[y] for y in fi.free_symbols if y in index):
            row[j] = sympy.diff(fi, ys[j])
            if row[j] != 0:
                nonzero.append((i, j))
        jac.append(tuple(row))
    return tuple(jac), nonzero


def _linear_in(expr, y):
    """(A, B) with expr = A*y + B and A, B free of y and printable, or None (then the
    equation is not split: exponential Euler refuses it).
    """
    import sympy
    from mpmath.libmp import NoConvergence  # (sympy's dependency)

    try:
        a = sympy.diff(expr, y)
        if a.has(y):
            return None
        try:  # a Python 0 would make ``dv/dt = v`` give int 0
            b = expr.xreplace({y: sympy.S.Zero})
        except (TypeError, ValueError):  # a relation that becomes nan < -oo at y = 0
            b = sympy.nan
        if b.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            b = sympy.expand(expr - a * y)
            if b.has(y):
                return None
    except (TypeError, ValueError, ArithmeticError, RecursionError, NoConvergence):
        return None  # sympy cannot split it (overflow, recursion): not linear
    if any(e.has(sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.I) for e in (a, b)):
        return None
    return a, b


def _crossing(threshold):
    import sympy

    if isinstance(threshold, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        return threshold.lhs - threshold.rhs
    if isinstance(threshold, (sympy.StrictLessThan, sympy.LessThan)):
        return threshold.rhs - threshold.lhs
    return None


def _safe_boolean(cond, safe):
    """Apply ``safe`` to the sides of the relations in a condition."""
    import sympy

    if isinstance(cond, sympy.core.relational.Relational):
        return cond.func(safe(cond.lhs), safe(cond.rhs), evaluate=False)
    if isinstance(cond, (sympy.And, sympy.Or, sympy.Not)):
        return cond.func(*[_safe_boolean(c, safe) for c in cond.args])
    return cond


def lower(model) -> KernelSpec:
    """Lower a Model to a :class:`~biosnn.codegen.spec.KernelSpec` (see the module
    docstring).  Reads only ``model.symbolic()``.

    Raises
    ------
    ModelError
        The derivatives cannot be computed, or an expression that a backend prints is
        infinite, undefined or complex everywhere (the message names the equation).
    """
    import sympy
    from mpmath.libmp import NoConvergence  # (sympy's dependency)

    from biosnn.codegen.functions import as_biosnn
    from biosnn.codegen.rewrite import make_numerically_safe

    sm = model.symbolic()

    def safe(e):
        return as_biosnn(make_numerically_safe(e))

    sym = sm.symbols
    t = sym["t"]
    ys = [sym[s] for s in sm.states]
    f = tuple(safe(sm.rhs[s]) for s in sm.states)
    g = tuple(tuple(safe(c) for c in sm.noise[s]) for s in sm.states) if sm.noises else ()
    try:
        jac, nonzero = _jacobian(f, ys)
        dfdt = tuple(sympy.diff(fi, t) for fi in f)
    except (TypeError, ValueError, ArithmeticError, RecursionError, NoConvergence) as exc:
        # sympy: "Invalid NaN comparison"; mpmath: no convergence of a numeric comparison
        raise ModelError(
            f"model {sm.name}: the derivatives of its right-hand sides cannot be computed ({exc})",
            source=sm.source,
        ) from None
    threshold = crossing = None
    if sm.threshold is not None:
        threshold = _safe_boolean(sm.threshold, safe)
        crossing = _crossing(threshold)
    reset = tuple((i, safe(e)) for i, e in sm.reset)
    refractory_time = safe(sm.refractory_time) if sm.refractory_time is not None else None
    refractory_condition = (
        _safe_boolean(sm.refractory_condition, safe)
        if sm.refractory_condition is not None
        else None
    )
    aliases = tuple((n, safe(e)) for n, e in sm.aliases.items())
    exp_euler = tuple(_linear_in(fi, y) for fi, y in zip(f, ys))
    linear = None
    variables = set(ys) | {t}
    if not any(jac[i][j].free_symbols & variables for i, j in nonzero):
        zeros = {y: sympy.S.Zero for y in ys}
        try:
            b = tuple(sympy.sympify(fi.xreplace(zeros)) for fi in f)
        except (TypeError, ValueError):  # a relation that becomes nan < -oo at y = 0
            b = (sympy.nan,)
        if not any(bi.has(t, sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.I) for bi in b):
            linear = (jac, b)
    nonzero_rows = [[] for _ in f]
    for i, j in nonzero:
        nonzero_rows[i].append(jac[i][j])
    _check_printable(
        sm,
        f,
        g,
        nonzero_rows,
        dfdt,
        threshold,
        reset,
        refractory_time,
        refractory_condition,
        aliases,
    )
    fields = dict(
        name=sm.name,
        states=tuple(sm.states),
        params=tuple(sm.params),
        noises=tuple(sm.noises),
        t=t,
        f=f,
        g=g,
        jac=jac,
        dfdt=dfdt,
        threshold=threshold,
        crossing=crossing,
        reset=reset,
        refractory_time=refractory_time,
        refractory_condition=refractory_condition,
        unless_refractory=tuple(sm.unless_refractory),
        aliases=aliases,
        exp_euler=exp_euler,
        linear=linear,
        time_dimensionless=sm.time_dimensionless,
    )
    return KernelSpec(key=_spec_key(fields, nonzero), **fields)


def layout(model) -> KernelLayout:
    """The :class:`~biosnn.codegen.spec.KernelLayout` of a Model: read from the cache
    directory by ``model.layout_key()`` (a warm start: no sympy), else built from
    ``model.kernel_spec()`` and stored.  Its ``full_spec()`` is ``model.kernel_spec()``.
    """
    import functools

    lkey = model.layout_key()
    # a partial of a module function, not a closure: the layout (and a Result holding
    # it) pickles with the standard pickle
    store = functools.partial(manifest.update, "layout", lkey)
    data = manifest.read("layout", lkey)
    if data is not None:
        try:
            found = KernelLayout.from_dict(data, full=model.kernel_spec, store=store)
            if (found.name, found.states, found.params) == (
                model.name,
                tuple(model.states),
                tuple(model.params),
            ):
                return found
        except (KeyError, TypeError, ValueError):
            pass
    spec = model.kernel_spec()
    built = KernelLayout.of(spec, numeric_source_of(spec), full=model.kernel_spec, store=store)
    manifest.write("layout", lkey, built.to_dict())
    return built


def _check_printable(
    sm, f, g, jac_rows, dfdt, threshold, reset, refractory_time, refractory_condition, aliases
) -> None:
    """Every expression a backend prints is finite and real somewhere (a ModelError
    naming the equation otherwise; the parser catches almost all such terms first).
    ``jac_rows[i]``: the nonzero entries of row i of the Jacobian.
    """
    groups = []
    for i, name in enumerate(sm.states):
        groups.append((name, "", [f[i], *(g[i] if g else ())]))
        groups.append((name, "in its derivatives (the Jacobian)", [*jac_rows[i], dfdt[i]]))
    groups += [(n, "", [e]) for n, e in aliases]
    for name, how, exprs in groups:
        text, line = sm.statements.get(name, (None, None))
        check_finite(
            exprs,
            f"in {text!r}" if text is not None else name,
            how.strip(),
            line=line,
            source=sm.source,
        )
    events = [
        ("threshold", [threshold]),
        ("reset", [e for _, e in reset]),
        ("refractory", [refractory_time, refractory_condition]),
    ]
    for label, exprs in events:
        check_finite(exprs, sm.event_labels[label], "", source=sm.source)


def numeric_source_of(spec: KernelSpec) -> str:
    """Generated source of ``linear_Ab`` and ``threshold`` (see KernelLayout), or ""."""
    functions = {}
    if spec.linear is not None:
        A, b = spec.linear
        functions["linear_Ab"] = [a for row in A for a in row] + list(b)
    if spec.threshold is not None:
        functions["threshold"] = [spec.threshold]
    try:
        return numeric_source(functions) if functions else ""
    except (ValueError, TypeError):
        return ""


def _spec_key(fields: dict, nonzero) -> str:
    import sympy

    def rep(value):
        if isinstance(value, sympy.Basic):
            return sympy.srepr(value)
        if isinstance(value, (tuple, list)):
            return [rep(v) for v in value]
        return repr(value)

    # the Jacobian by its nonzero entries ``nonzero`` (list of (i, j)): the n**2 zeros of a
    # large model would cost seconds
    jac = [[i, j, fields["jac"][i][j]] for i, j in nonzero]
    sparse = dict(fields, jac=jac)
    if fields["linear"] is not None:  # (A, b), A is the Jacobian again
        sparse["linear"] = [jac, fields["linear"][1]]
    text = json.dumps({k: rep(v) for k, v in sorted(sparse.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
