"""Lowering for the network engines: sympy -> code snippets printed twice (C and NumPy).

Both engines of :mod:`biosnn.network` execute the same *snippets*: lists of assignments
printed from the same sympy trees after the same ``sympy.cse``, once by
:class:`~biosnn.codegen.c_printer.BiosnnCPrinter` (C, one neuron or synapse at a time) and
once by :class:`PyPrinter`, a subclass of it that changes only what C and Python spell
differently (the ternary operator, ``&&``/``||``/``!``, function names).  Every
arithmetic node is printed by the C printer's own methods, so the two engines evaluate the
same operations in the same order; with ``-ffp-contract=off`` in C, IEEE basic
operations and biosnn's own ``exp``/``expm1`` (:mod:`biosnn.network._vmath`, respelled
into population and synapse code) the results are bitwise equal
(``tests/network/test_engines.py``).

Names used in snippets (both languages): states ``y_<i>`` (start of the step), stage
states ``ys<s>_<i>``, new states ``yn_<i>``, parameters ``P_<k>``, the stage time ``tt``,
the step ``dt``; synapse statements use the names given by their ``store``.

This module needs sympy; it runs only on a cold start (the snippets are stored in the
kernel cache with the compiled library, see :mod:`biosnn.network._cache`).
"""

from __future__ import annotations

import re

import sympy as sp

from biosnn.codegen.c_printer import BiosnnCPrinter

__all__ = ["PyPrinter", "assignments", "population_snippets"]

_PY_FUNCS = {
    "exp": "_np.exp",
    "expm1": "_np.expm1",
    "log": "_np.log",
    "log1p": "_np.log1p",
    "log10": "_np.log10",
    "sqrt": "_np.sqrt",
    "sin": "_np.sin",
    "cos": "_np.cos",
    "tan": "_np.tan",
    "sinh": "_np.sinh",
    "cosh": "_np.cosh",
    "tanh": "_np.tanh",
    "fabs": "_np.abs",
    "floor": "_np.floor",
    "ceil": "_np.ceil",
    "fmin": "_np.minimum",
    "fmax": "_np.maximum",
    "pow": "_np.power",
    "cbrt": "_np.cbrt",
}
_CALL = re.compile(r"(?<![\w.])(" + "|".join(_PY_FUNCS) + r")\(")


class PyPrinter(BiosnnCPrinter):
    """The C printer, respelled as NumPy (same operations in the same order)."""

    def _print_Piecewise(self, expr):
        *pieces, (last_e, last_c) = expr.args
        tail = (
            self._print(last_e)
            if last_c == sp.true
            else (f"_np.where({self._print(last_c)}, {self._print(last_e)}, _np.nan)")
        )
        for e, c in reversed(pieces):
            tail = f"_np.where({self._print(c)}, {self._print(e)}, {tail})"
        return tail

    def _print_And(self, expr):
        out = self._print(expr.args[-1])
        for a in reversed(expr.args[:-1]):
            out = f"_np.logical_and({self._print(a)}, {out})"
        return out

    def _print_Or(self, expr):
        out = self._print(expr.args[-1])
        for a in reversed(expr.args[:-1]):
            out = f"_np.logical_or({self._print(a)}, {out})"
        return out

    def _print_Not(self, expr):
        return f"_np.logical_not({self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_sign(self, expr):
        return f"_np.sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"_np.where({self._print(expr.args[0])} > 0, 1.0, 0.0)"

    def _print_Infinity(self, expr):
        return "_np.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-_np.inf)"

    def _print_NaN(self, expr):
        return "_np.nan"

    def _print_ComplexInfinity(self, expr):
        return "_np.nan"  # undefined (log(0) of a folded branch): nan, as in C

    def doprint(self, expr, assign_to=None):
        text = super().doprint(expr, assign_to)
        return _CALL.sub(lambda m: _PY_FUNCS[m.group(1)] + "(", text)


def assignments(exprs, targets, store, prefix: str) -> dict:
    """Cse + print ``target = expr`` lines for C and Python.

    Parameters
    ----------
    exprs : list of sympy expressions
    targets : list of str
        Names assigned (declared by the caller in C).
    store : dict
        Symbol name -> name in the snippet.
    prefix : str
        Prefix of the cse temporaries (unique per snippet inside one function).

    Returns
    -------
    dict with "c" and "py" (lists of lines)
    """
    exprs = [sp.sympify(e) for e in exprs]
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix, real=True))
    cp, pp = BiosnnCPrinter(store), PyPrinter(store)
    c, py = [], []
    for s, e in repl:
        c.append(f"const double {s.name} = {cp.doprint(e)};")
        py.append(f"{s.name} = {pp.doprint(e)}")
    for tgt, e in zip(targets, reduced):
        c.append(f"{tgt} = {cp.doprint(e)};")
        py.append(f"{tgt} = {pp.doprint(e)}")
    return {"c": c, "py": py}


def condition(expr, store) -> dict:
    """A boolean printed for C (``int``) and Python (bool array)."""
    return {
        "c": f"({BiosnnCPrinter(store).doprint(expr)})",
        "py": f"({PyPrinter(store).doprint(expr)})",
    }


def _store(spec, state_name) -> dict:
    store = {s: state_name(i) for i, s in enumerate(spec.states)}
    store.update({p: f"P_{k}" for k, p in enumerate(spec.params)})
    store[spec.t.name] = "tt"
    return store


def _rk_code(spec, tableau) -> dict:
    """Explicit RK step: stage states, drifts, new states (C and Python lines)."""
    ns = spec.n_states
    c, py = [], []
    s_count = len(tableau.b)
    for s in range(s_count):
        if s == 0:
            name = lambda i: f"y_{i}"  # noqa: E731
        else:
            name = lambda i, s=s: f"ys{s}_{i}"  # noqa: E731
            for i in range(ns):
                terms = [
                    f"{float(tableau.A[s][j])!r}*k{j}_{i}" for j in range(s) if tableau.A[s][j] != 0
                ]
                rhs = f"y_{i} + dt*({' + '.join(terms)})" if terms else f"y_{i}"
                c.append(f"const double ys{s}_{i} = {rhs};")
                py.append(f"ys{s}_{i} = {rhs}")
        ct = float(tableau.c[s])
        tt = "tn" if ct == 0 else f"tn + {ct!r}*dt"
        c.append(f"tt = {tt};")
        py.append(f"tt = {tt}")
        block = assignments(spec.f, [f"k{s}_{i}" for i in range(ns)], _store(spec, name), f"c{s}_")
        c += [("double " + line if line.startswith("k") else line) for line in block["c"]]
        py += block["py"]
    for i in range(ns):
        terms = [f"{float(tableau.b[j])!r}*k{j}_{i}" for j in range(s_count) if tableau.b[j] != 0]
        rhs = f"y_{i} + dt*({' + '.join(terms)})"
        c.append(f"yn_{i} = {rhs};")
        py.append(f"yn_{i} = {rhs}")
    return {"c": c, "py": py}


def _exp_euler_code(spec) -> dict:
    """``y_i += (A_i y_i + B_i) * phi_i``, ``phi = expm1(A dt)/A`` (``dt`` when A = 0)."""
    ns = spec.n_states
    exprs, targets = [], []
    for i in range(ns):
        pair = spec.exp_euler[i] if spec.exp_euler else None
        a, b = pair if pair is not None else (sp.S.Zero, spec.f[i])
        exprs += [a, b]
        targets += [f"A_{i}", f"B_{i}"]
    block = assignments(exprs, targets, _store(spec, lambda i: f"y_{i}"), "c0_")
    c = ["tt = tn;"] + [
        ("double " + ln if ln.startswith(("A_", "B_")) else ln) for ln in block["c"]
    ]
    py = ["tt = tn"] + block["py"]
    for i in range(ns):
        c.append(
            f"yn_{i} = y_{i} + (A_{i}*y_{i} + B_{i})*((A_{i} == 0.0) ? dt : expm1(A_{i}*dt)/A_{i});"
        )
        py.append(
            f"yn_{i} = y_{i} + (A_{i}*y_{i} + B_{i})*_np.where(A_{i} == 0.0, dt, "
            f"_np.expm1(A_{i}*dt)/_np.where(A_{i} == 0.0, 1.0, A_{i}))"
        )
    return {"c": c, "py": py}


def _exact_code(spec) -> dict:
    """``yn = M[:, :ns] y + M[:, ns]`` with the propagator ``M`` (row by row), without
    the terms whose coefficient is zero for every parameter value.

    ``M = expm([[A, b], [0, 0]] dt)``: ``M[i][j]`` (j < ns) is zero unless state j
    reaches state i in the dependency graph of the drift (edge j -> i where
    ``df_i/dy_j`` is not identically 0; every state reaches itself), and ``M[i][ns]``
    is zero unless a state with a constant term ``b_k = f_k(0)`` that is not
    identically 0 reaches i.  Dropping those products is exact for finite states (CUBA:
    ``ge`` and ``gi`` do not depend on ``v``, 5 of 12 terms stay).  Both engines print
    these lines, so they keep the same bits.
    """
    ns = spec.n_states
    keep = _propagator_pattern(spec)
    c, py = [], []
    for i in range(ns):
        terms = [f"M[{i}][{j}]*y_{j}" for j in range(ns) if keep[i][j]]
        rhs = terms[0]
        for term in terms[1:]:
            rhs = f"({rhs} + {term})"
        if keep[i][ns]:
            rhs = f"{rhs} + M[{i}][{ns}]"
        c.append(f"yn_{i} = {rhs};")
        py.append(f"yn_{i} = {rhs}")
    return {"c": c, "py": py}


def _propagator_pattern(spec) -> list:
    """``keep[i][j]``: whether ``M[i][j]`` of the exact propagator can be nonzero
    (columns 0..ns-1 the states, column ns the constant; see :func:`_exact_code`).
    """
    ns = spec.n_states
    names = set(spec.states)
    reach = [
        [i == j or not sp.sympify(spec.jac[i][j]).is_zero for j in range(ns)] for i in range(ns)
    ]
    for k in range(ns):  # transitive closure (Warshall)
        for i in range(ns):
            if reach[i][k]:
                for j in range(ns):
                    reach[i][j] = reach[i][j] or reach[k][j]
    const = []
    for f in spec.f:
        f = sp.sympify(f)
        zero = {s: 0 for s in f.free_symbols if s.name in names}
        const.append(not sp.sympify(f.subs(zero)).is_zero)
    return [reach[i] + [any(reach[i][k] and const[k] for k in range(ns))] for i in range(ns)]


#: Stochastic methods of populations (white noise ``xi`` in the model).
SDE_METHODS = ("euler_maruyama", "stochastic_heun")


def _noise_sum(prefix: str, i: int, g_row, nn: int) -> str:
    """``G_i_0*dW_0 + G_i_1*dW_1 + ...`` over the nonzero noise coefficients of state i."""
    terms = [f"{prefix}{i}_{k}*dW_{k}" for k in range(nn) if g_row[k] != 0]
    return " + ".join(terms) if terms else "0.0"


def _sde_code(spec, method: str) -> dict:
    """Euler-Maruyama or stochastic Heun step with the increments ``dW_k`` (given).

    ``dW_k = sqrt(dt)*z(key, step, stream)`` is defined by the engines before these lines
    (see :func:`noise_streams`).  Heun (Brian2's ``heun``): ``Y = y + f dt + g dW``,
    ``y <- y + (f(y) + f(Y)) dt/2 + (g(y) + g(Y)) dW/2``.
    """
    ns, nn = spec.n_states, spec.n_noises
    g = spec.g if nn else tuple(() for _ in range(ns))
    c, py = [], []

    def stage(s, name, t_expr):
        exprs = list(spec.f) + [g[i][k] for i in range(ns) for k in range(nn) if g[i][k] != 0]
        targets = [f"k{s}_{i}" for i in range(ns)] + [
            f"G{s}_{i}_{k}" for i in range(ns) for k in range(nn) if g[i][k] != 0
        ]
        c.append(f"tt = {t_expr};")
        py.append(f"tt = {t_expr}")
        block = assignments(exprs, targets, _store(spec, name), f"c{s}_")
        c.extend(("double " + ln if ln.startswith(("k", "G")) else ln) for ln in block["c"])
        py.extend(block["py"])
        for i in range(ns):
            rhs = _noise_sum(f"G{s}_", i, g[i], nn)
            c.append(f"const double N{s}_{i} = {rhs};")
            py.append(f"N{s}_{i} = {rhs}")

    stage(0, lambda i: f"y_{i}", "tn")
    if method == "euler_maruyama":
        for i in range(ns):
            c.append(f"yn_{i} = y_{i} + dt*k0_{i} + N0_{i};")
            py.append(f"yn_{i} = y_{i} + dt*k0_{i} + N0_{i}")
        return {"c": c, "py": py}
    for i in range(ns):
        c.append(f"const double ys1_{i} = y_{i} + dt*k0_{i} + N0_{i};")
        py.append(f"ys1_{i} = y_{i} + dt*k0_{i} + N0_{i}")
    stage(1, lambda i: f"ys1_{i}", "tn + dt")
    for i in range(ns):
        c.append(f"yn_{i} = y_{i} + 0.5*dt*(k0_{i} + k1_{i}) + 0.5*(N0_{i} + N1_{i});")
        py.append(f"yn_{i} = y_{i} + 0.5*dt*(k0_{i} + k1_{i}) + 0.5*(N0_{i} + N1_{i})")
    return {"c": c, "py": py}


def population_snippets(spec, method: str) -> dict:
    """Everything the engines print for one population (JSON-able).

    Returns
    -------
    dict
        ``update`` {c, py}: lines computing ``yn_i`` from ``y_i``, ``P_k``, ``tn``, ``dt``
        (and ``M`` for "exact"); ``drift`` {c, py}: ``k0_i = f_i(y)`` at ``tt`` (probed
        by the exact propagator); ``threshold``, ``refcond``: conditions or None;
        ``reset``: lines assigning ``y_i`` in place; ``reftime``: expression of ``P_k``
        or None; ``held``: per state, held while refractory; ``level``: the threshold
        rule - True (a model with reset statements: spike whenever the condition holds
        after the update and the neuron is not refractory, Brian2's rule) or False (no
        reset: spike on an upward crossing, the condition false at the previous check).
    """
    from biosnn.solvers.tableaux import TABLEAUX

    store = _store(spec, lambda i: f"y_{i}")
    if method == "exact":
        update = _exact_code(spec)
    elif method in SDE_METHODS:
        update = _sde_code(spec, method)
    elif method == "exponential_euler":
        update = _exp_euler_code(spec)
    else:
        update = _rk_code(spec, TABLEAUX[method])
    drift = assignments(spec.f, [f"k0_{i}" for i in range(spec.n_states)], store, "d_")
    out = {
        "update": update,
        "drift": drift,
        "threshold": condition(spec.threshold, store) if spec.threshold is not None else None,
        "refcond": condition(spec.refractory_condition, store)
        if spec.refractory_condition is not None
        else None,
        "reftime": None,
        "reset": {"c": [], "py": []},
        "noises": spec.n_noises,
        "held": [bool(h) for h in (spec.unless_refractory or (False,) * spec.n_states)],
        "level": bool(spec.reset),
    }
    if spec.refractory_time is not None:
        out["reftime"] = {
            "c": BiosnnCPrinter(store).doprint(spec.refractory_time),
            "py": PyPrinter(store).doprint(spec.refractory_time),
        }
    cp, pp = BiosnnCPrinter(store), PyPrinter(store)
    for i, e in spec.reset:
        out["reset"]["c"].append(f"y_{i} = {cp.doprint(e)};")
        out["reset"]["py"].append(f"y_{i} = {pp.doprint(e)}")
    return out


# -- synapses -----------------------------------------------------------------------------

_SUFFIX = re.compile(r"^(?P<base>\w+?)_(?P<side>pre|post)$")


#: Variables every population offers to synapse expressions besides its states and
#: parameters (Brian2's group variables): the time of its last spike and whether it is
#: out of its refractory period (see docs/network.md, "Refractoriness in synapses").
SPIKE_VARIABLES = ("lastspike", "not_refractory")


class SideInfo:
    """What a synapse statement may use of one side (pre or post population).

    ``states``, ``params``: names; ``dims``: name -> dimension; ``array_params``: the set
    of parameters stored per neuron; ``index``: the population's index in the network
    (its arrays ``LS<k>``, ``RT<k>``, ``RF<k>`` give ``lastspike`` and
    ``not_refractory``); ``refractory``: "time", "condition" or None.  ``None`` sides
    (Poisson, generators) have nothing.
    """

    def __init__(self, model=None, array_params=(), index=None):
        self.states = tuple(model.states) if model is not None else ()
        self.params = tuple(model.params) if model is not None else ()
        self.dims = (
            {n: model.dimension(n) for n in self.states + self.params} if model is not None else {}
        )
        self.array_params = frozenset(array_params)
        self.index = index if model is not None else None
        self.refractory = None
        if model is not None:
            if model._refractory_condition is not None:
                self.refractory = "condition"
            elif model._refractory_time is not None:
                self.refractory = "time"

    def spike_variable(self, base):
        """True if ``base`` is ``lastspike`` or ``not_refractory`` of this population
        (and not one of its own states or parameters, which come first).
        """
        return (
            self.index is not None
            and base in SPIKE_VARIABLES
            and base not in self.states
            and base not in self.params
        )


def _side_names(side: str, info: SideInfo, lang: str, index: str) -> dict:
    """Symbol name -> snippet text for the variables of one side."""
    out = {}
    for i, s in enumerate(info.states):
        out[f"{side}_y{i}"] = f"{side}_y{i}[{index}]"
    for k, p in enumerate(info.params):
        out[f"{side}_P{k}"] = f"{side}_P{k}[{index}]" if p in info.array_params else f"{side}_P{k}"
    if info.index is not None:  # the population's own arrays (same names in C and NumPy)
        for what in ("LS", "RT", "RF"):
            out[f"{side}_{what}"] = f"{what}{info.index}[{index}]"
    return out


class _SynNames:
    """Names a synapse expression may use, their sympy symbols and their printed forms.

    Name rule (Brian2's): ``x_pre`` / ``x_post`` are explicit; an unsuffixed name is a
    synaptic variable or shared parameter first, else a variable of the post population.
    """

    def __init__(self, syn_vars: dict, shared: dict, pre: SideInfo, post: SideInfo, context: str):
        from biosnn import units

        self.syn_vars, self.shared, self.pre, self.post = syn_vars, shared, pre, post
        self.context = context
        self.syn_index = {n: k for k, n in enumerate(syn_vars)}
        self.shared_index = {n: k for k, n in enumerate(shared)}
        self.syms = {}
        c_store = {"tt": "tt", "dl_": "dl_", "dt_": "dt"}
        py_store = dict(c_store)
        for k in range(len(syn_vars)):
            c_store[f"S_{k}"] = py_store[f"S_{k}"] = f"sv{k}[s]"
        for k in range(len(shared)):
            c_store[f"Q_{k}"] = py_store[f"Q_{k}"] = f"q{k}"
        c_store.update(_side_names("post", post, "c", "j"))
        py_store.update(_side_names("post", post, "py", "j"))
        c_store.update(_side_names("pre", pre, "c", "ip"))
        py_store.update(_side_names("pre", pre, "py", "ip"))
        self.c_store, self.py_store = c_store, py_store
        self.time = units.TIME()

    def resolve(self, name):
        """(kind, index, symbol name, dim) of a variable name, or None."""
        from biosnn.errors import ModelError

        m = _SUFFIX.match(name)
        if m:
            base, side = m.group("base"), m.group("side")
            info = self.pre if side == "pre" else self.post
            if base in info.states:
                return (
                    side,
                    info.states.index(base),
                    f"{side}_y{info.states.index(base)}",
                    info.dims[base],
                )
            if base in info.params:
                k = info.params.index(base)
                return (side + "_param", k, f"{side}_P{k}", info.dims[base])
            if info.spike_variable(base):
                return (side + "_spike", base, f"{side}_{base}", None)
            known = (
                ", ".join(
                    info.states + info.params + (SPIKE_VARIABLES if info.index is not None else ())
                )
                or "none"
            )
            raise ModelError(
                f"in {self.context}: {name}: {base} is not a variable of the "
                f"{side}synaptic population (its variables: {known})"
            )
        if name in self.syn_index:
            k = self.syn_index[name]
            return ("syn", k, f"S_{k}", self.syn_vars[name])
        if name in self.shared_index:
            k = self.shared_index[name]
            return ("shared", k, f"Q_{k}", self.shared[name])
        if name in self.post.states:
            i = self.post.states.index(name)
            return ("post", i, f"post_y{i}", self.post.dims[name])
        if name in self.post.params:
            k = self.post.params.index(name)
            return ("post_param", k, f"post_P{k}", self.post.dims[name])
        if self.post.spike_variable(name):
            return ("post_spike", name, f"post_{name}", None)
        return None

    def spike_value(self, side: str, base: str):
        """(sympy value, dimension) of ``lastspike`` or ``not_refractory`` of a side.

        ``lastspike`` is the time of the neuron's last spike (-inf before the first), a
        spike of the current step included.  ``not_refractory`` is a condition: with a
        refractory time, ``t + dt/2 >= lastspike + refractory`` - the step starting at
        ``t`` integrates the neuron (the population's own test, docs/network.md); with
        a refractory condition, the neuron's flag is clear; without refractoriness,
        true.
        """
        from biosnn.equations.parser import BOOL

        info = self.pre if side == "pre" else self.post
        ls = self.symbol(f"{side}_LS")
        if base == "lastspike":
            return ls, self.time
        if info.refractory == "time":
            return sp.GreaterThan(
                self.symbol("tt") + sp.Rational(1, 2) * self.symbol("dt_"),
                ls + self.symbol(f"{side}_RT"),
            ), BOOL
        if info.refractory == "condition":
            return sp.Eq(self.symbol(f"{side}_RF"), 0), BOOL
        return sp.true, BOOL

    def symbol(self, name):
        symbol = self.syms.get(name)
        if symbol is None:
            symbol = self.syms[name] = sp.Symbol(name, real=True)
        return symbol

    def namespace(self, names) -> dict:
        """Name -> (symbol, dim) for the resolvable ``names`` and ``t``."""
        ns = {}
        for name in sorted(names):
            r = self.resolve(name)
            if r is not None and r[0].endswith("_spike"):
                ns[name] = self.spike_value(r[0][:-6], r[1])
            elif r is not None:
                ns[name] = (self.symbol(r[2]), r[3])
        ns["t"] = (self.symbol("tt"), self.time)
        return ns

    def printers(self):
        return BiosnnCPrinter(self.c_store), PyPrinter(self.py_store)


def synapse_snippets(
    statements,
    syn_vars: dict,
    shared: dict,
    pre: SideInfo,
    post: SideInfo,
    context: str,
    source=None,
    first_line: int = 1,
) -> dict:
    """Lower synapse statements (``on_pre`` or ``on_post``) for both engines.

    Parameters
    ----------
    statements : str
        ``"ge_post += w; w = clip(w + apost, 0, wmax)"``.
    syn_vars, shared : dict
        Per-synapse variables and shared synapse parameters: name -> dimension (order
        fixes their indices).
    pre, post : SideInfo
    context : str
        Words for error messages (``"on_pre of synapses 'exc'"``).
    source, first_line : optional
        The file of the statements and its line of their first line (errors name them).

    Returns
    -------
    dict: ``list`` of statements, each {"kind": "post"|"syn"|"pre", "index", "op",
    "c": C statement, "py": right-hand side (NumPy)}; ``reads_post``: a statement reads
    a post state; ``reads_pre``: uses a pre variable.

    Name rule (Brian2's): ``x_pre`` / ``x_post`` are explicit; an unsuffixed name is a
    synaptic variable or shared parameter first, else a variable of the post population.
    """
    from biosnn import units
    from biosnn.equations import parser
    from biosnn.errors import ModelError

    names = _SynNames(syn_vars, shared, pre, post, context)
    try:
        stmts = parser.parse_reset(statements, source=source, first_line=first_line)
    except ModelError as exc:
        raise type(exc)(
            f"in {context}: {exc.message}", line=exc.line, column=exc.column, source=exc.source
        ) from None
    used_names = set()
    for st in stmts:
        used_names |= set(st.expr.names) | {st.name}
    ns = names.namespace(used_names)
    cp, pp = names.printers()
    out, reads_post, reads_pre, spike_pops = [], False, False, set()
    for st in stmts:
        where = f"in {context} {st.text!r}"
        target = names.resolve(st.name)
        if target is None or target[0] not in ("syn", "post", "pre"):
            what = (
                "a shared parameter (constant)"
                if target and target[0] == "shared"
                else "kept by the population itself (read-only)"
                if target and target[0].endswith("_spike")
                else "a parameter"
                if target
                else "not a variable here"
            )
            raise ModelError(
                f"{where}: {st.name} is {what}; statements may assign "
                "per-synapse variables and states of the pre- or "
                "postsynaptic population",
                line=st.line,
                source=source,
            )
        dim = target[3]
        expected = dim if st.op in ("=", "+=", "-=") else units.dimensionless()
        needs = (
            f"{st.name} needs" if st.op in ("=", "+=", "-=") else f"the factor of {st.op} must be"
        )
        value, _ = parser.Converter(ns, where).convert(st.expr, expected, needs=needs)
        free = {x.name for x in sp.sympify(value).free_symbols}
        reads_post |= any(n.startswith("post_y") for n in free)
        reads_pre |= any(n.startswith("pre_") for n in free) or target[0] == "pre"
        reads = sorted(
            [n.split("_y")[0], int(n.split("_y")[1])]
            for n in free
            if n.startswith(("post_y", "pre_y"))
        )
        for side, info in (("pre", pre), ("post", post)):
            if any(n in free for n in (f"{side}_LS", f"{side}_RF")):
                spike_pops.add(info.index)
        lhs = cp.doprint(names.symbol(target[2]))
        op = st.op
        c_rhs = cp.doprint(value)
        c_line = f"{lhs} = {c_rhs};" if op == "=" else f"{lhs} = {lhs} {op[0]} ({c_rhs});"
        out.append(
            {
                "kind": target[0],
                "index": target[1],
                "op": op,
                "c": c_line,
                "py": pp.doprint(value),
                "text": st.text,
                "reads": reads,
            }
        )
    return {
        "list": out,
        "reads_post": reads_post,
        "reads_pre": reads_pre,
        "spike_pops": sorted(spike_pops),
    }


def _ode_rhs(names: _SynNames, st, label: str, kinds, forbidden, context) -> object:
    """The right-hand side of a synapse ODE as sympy, units checked.

    ``kinds``: the kinds of names it may use (see :meth:`_SynNames.resolve`; "t" for the
    time); ``forbidden``: per-synapse variables it may not use (ODEs of the other kind).
    """
    from biosnn.equations import parser
    from biosnn.errors import ModelError

    where = f"in {context} {st.text!r}"
    words = {
        "syn": "synapse variables",
        "shared": "shared constants",
        "pre": "pre states",
        "pre_param": "pre parameters",
        "post": "post states",
        "post_param": "post parameters",
        "t": "t",
        "pre_spike": "lastspike_pre, not_refractory_pre",
        "post_spike": "lastspike_post, not_refractory_post",
    }
    for name in st.expr.names:
        r = names.resolve(name) if name != "t" else ("t",)
        if (r is not None and r[0] not in kinds) or name in forbidden:
            raise ModelError(
                f"{where}: {label} equations cannot use {name} (they may use "
                f"{', '.join(words[k] for k in kinds)}"
                + (f", but not {', '.join(sorted(forbidden))}" if forbidden else "")
                + ")"
            )
    dim = names.syn_vars[st.name]
    value, _ = parser.Converter(names.namespace(st.expr.names), where).convert(
        st.expr, dim / names.time, needs="the equation needs"
    )
    return value


def event_snippets(
    odes: dict, syn_vars: dict, shared: dict, pre: SideInfo, post: SideInfo, forbidden, context: str
) -> dict:
    """Exact advance of the event-driven variables over the elapsed time ``dl_``.

    ``odes``: name -> Statement (``dapre/dt = -apre/taupre : 1``).  The system must be
    linear in its variables with coefficients made of shared constants and of per-synapse
    variables that are not ODE variables (so they are constant between events); then
    ``x(t0 + dl) = exp(A dl) x(t0) + int_0^dl exp(A s) ds b`` is computed by sympy:
    per variable when ``A`` is diagonal, else from the exponential of ``[[A, b], [0, 0]]``.

    Returns {"c", "py": lines assigning ``ed_<k>`` (the new value of syn variable k,
    reading ``sv<k>[s]`` and ``dl_``), "targets": syn variable indices}.
    """
    from biosnn.errors import ModelError

    names = _SynNames(syn_vars, shared, pre, post, context)
    order = list(odes)
    rhs = [
        _ode_rhs(names, odes[n], "event-driven", ("syn", "shared"), forbidden, context)
        for n in order
    ]
    xs = [names.symbol(f"S_{names.syn_index[n]}") for n in order]
    dl = names.symbol("dl_")
    A = sp.Matrix([[sp.diff(f, x) for x in xs] for f in rhs])
    if any(x in A.free_symbols for x in xs):
        raise ModelError(
            f"in {context}: event-driven equations must be linear in their "
            f"variables ({', '.join(order)}); integrate nonlinear ones "
            "with (clock-driven)"
        )
    b = [f.subs({x: 0 for x in xs}) for f in rhs]
    if any(x in sp.sympify(e).free_symbols for e in b for x in xs):
        raise ModelError(f"in {context}: event-driven equations must be linear")
    new = []
    if A.is_diagonal():
        for i, x in enumerate(xs):
            a = sp.simplify(A[i, i])
            if a == 0:
                new.append(x + b[i] * dl)
            elif b[i] == 0:
                new.append(x * sp.exp(a * dl))
            else:
                new.append(x * sp.exp(a * dl) + b[i] / a * (sp.exp(a * dl) - 1))
    else:
        n = len(xs)
        big = sp.zeros(n + 1, n + 1)
        big[:n, :n] = A * dl
        big[:n, n] = sp.Matrix(b) * dl
        try:
            E = sp.simplify(big.exp())
        except Exception as exc:  # noqa: BLE001 - sympy gives up: say so
            raise ModelError(
                f"in {context}: sympy cannot solve the event-driven system "
                f"exactly ({exc}); use (clock-driven)"
            ) from None
        if E.has(sp.Integral) or E.has(sp.Piecewise):
            raise ModelError(
                f"in {context}: sympy cannot solve the event-driven system "
                "in closed form; use (clock-driven)"
            )
        vec = sp.Matrix(xs + [1])
        new = list(E[:n, :] * vec)
    targets = [names.syn_index[n] for n in order]
    block = assignments(new, [f"ed_{k}" for k in targets], names.c_store, "e_")
    c = [("double " + ln if ln.startswith("ed_") else ln) for ln in block["c"]]
    c += [f"sv{k}[s] = ed_{k};" for k in targets]
    return {"c": c, "py": block["py"], "targets": targets}


def clock_snippets(
    odes: dict,
    syn_vars: dict,
    shared: dict,
    pre: SideInfo,
    post: SideInfo,
    method,
    forbidden,
    context: str,
) -> dict:
    """One step of the clock-driven synapse variables (all read at the start of the step).

    ``method``: ``"euler"`` (``x + dt*f``) or ``"exponential_euler"`` (``x + (A x + B)
    expm1(A dt)/A`` with ``A = df/dx``, ``B = f - A x``; exact when ``f`` is linear in
    ``x`` with the other variables constant over the step), or None: exponential_euler
    when every equation is linear in its own variable, else euler.

    Returns {"c", "py": lines assigning ``cn_<k>``, "targets": syn variable indices,
    "method": the method used}.
    """
    from biosnn.errors import ModelError

    names = _SynNames(syn_vars, shared, pre, post, context)
    kinds = (
        "syn",
        "shared",
        "pre",
        "pre_param",
        "post",
        "post_param",
        "t",
        "pre_spike",
        "post_spike",
    )
    order = list(odes)
    rhs = [_ode_rhs(names, odes[n], "clock-driven", kinds, forbidden, context) for n in order]
    xs = [names.symbol(f"S_{names.syn_index[n]}") for n in order]
    pairs = []
    for f, x in zip(rhs, xs):
        a = sp.diff(f, x)
        pairs.append(None if x in a.free_symbols else (a, f.subs(x, 0)))
    if method is None:
        method = "exponential_euler" if all(p is not None for p in pairs) else "euler"
    if method == "exponential_euler" and any(p is None for p in pairs):
        bad = [n for n, p in zip(order, pairs) if p is None]
        raise ModelError(
            f"in {context}: exponential_euler needs each clock-driven equation "
            f"to be linear in its own variable; {', '.join(bad)} is not "
            "(use method='euler')"
        )
    targets = [names.syn_index[n] for n in order]
    if method == "euler":
        block = assignments(rhs, [f"cf_{k}" for k in targets], names.c_store, "k_")
        c = [("double " + ln if ln.startswith("cf_") else ln) for ln in block["c"]]
        py = list(block["py"])
        for k in targets:
            c.append(f"const double cn_{k} = sv{k}[s] + dt*cf_{k};")
            py.append(f"cn_{k} = sv{k}[s] + dt*cf_{k}")
    else:
        exprs, tg = [], []
        for k, (a, bb) in zip(targets, pairs):
            exprs += [a, bb]
            tg += [f"A_{k}", f"B_{k}"]
        block = assignments(exprs, tg, names.c_store, "k_")
        c = [("double " + ln if ln.startswith(("A_", "B_")) else ln) for ln in block["c"]]
        py = list(block["py"])
        for k in targets:
            c.append(
                f"const double cn_{k} = sv{k}[s] + (A_{k}*sv{k}[s] + B_{k})*((A_{k} == "
                f"0.0) ? dt : expm1(A_{k}*dt)/A_{k});"
            )
            py.append(
                f"cn_{k} = sv{k}[s] + (A_{k}*sv{k}[s] + B_{k})*_np.where(A_{k} == 0.0, "
                f"dt, _np.expm1(A_{k}*dt)/_np.where(A_{k} == 0.0, 1.0, A_{k}))"
            )
    return {"c": c, "py": py, "targets": targets, "method": method}


def summed_snippets(
    summed: list,
    syn_vars: dict,
    shared: dict,
    pre: SideInfo,
    post: SideInfo,
    event_vars,
    context: str,
) -> dict:
    """The per-synapse terms of summed variables (``I_gap_post = g*(v_pre - v_post)``).

    Returns {"c", "py": lines assigning ``sm_<m>``, "targets": the index of each summed
    parameter in the postsynaptic model's parameters}.
    """
    from biosnn.equations import parser
    from biosnn.errors import ModelError

    names = _SynNames(syn_vars, shared, pre, post, context)
    exprs, targets = [], []
    for target, st in summed:
        where = f"in {context} {st.text!r}"
        for name in st.expr.names:
            if name in event_vars:
                raise ModelError(
                    f"{where}: the event-driven variable {name} is only "
                    "up to date at events; a summed variable cannot use it"
                )
        value, _ = parser.Converter(names.namespace(st.expr.names), where).convert(
            st.expr, post.dims[target], needs=f"{target}_post needs"
        )
        exprs.append(value)
        targets.append(post.params.index(target))
    block = assignments(exprs, [f"sm_{m}" for m in range(len(exprs))], names.c_store, "m_")
    c = [("double " + ln if ln.startswith("sm_") else ln) for ln in block["c"]]
    return {"c": c, "py": block["py"], "targets": targets}
