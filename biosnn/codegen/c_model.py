"""Printing a model's functions in C: the generated part of every C kernel.

From a :class:`~biosnn.codegen.spec.KernelSpec` this module prints the model-specific C
of a translation unit (the rest is the runtime, ``runtime/*.h|*.c``, assembled by
:mod:`biosnn.codegen.c_runtime`):

* :func:`defines` - sizes and flags (``NS``, ``NP``, ``HAS_THRESHOLD``, ...), the held
  states, and a comment naming every state, parameter, noise and alias;
* :func:`model_functions` - the scalar functions ``bs_f``, ``bs_jac``, ``bs_dfdt``,
  ``bs_threshold``, ``bs_crossing``, ``bs_reset``, ``bs_refcond``, ``bs_reftime``;
* :func:`lane_functions` - for the fixed-step family, their *lane* versions ``bs_f_v``,
  ``bs_g_v``, ``bs_expeuler_v``, ``bs_threshold_v``: ``omp simd`` loops over the ``BS_B``
  lanes of a block, with libm ``exp``/``expm1`` and ``bs_xexpm1`` replaced by the SIMD
  versions of ``runtime/bs_vmath.h``.

Every function body is printed after :func:`~biosnn.codegen.rewrite.share_exponentials`
and ``sympy.cse`` by :class:`~biosnn.codegen.c_printer.BiosnnCPrinter`.

Names
-----
The generated C carries the model's names: a function first copies the states and
parameters it uses into locals named after them with a trailing underscore
(``const double V_ = y[0];``, ``gNa_ = p[1]``; in lane functions ``Y[0*BS_B+l]``), and
each output is preceded by a comment (``/* dV/dt */``).  The underscore keeps every
model name clear of C and of the runtime (a model may have a state ``y``, ``NS`` or
``expm1``; no identifier of the runtime ends in ``_`` (tested), nor any public one of
the C headers it includes (checked with glibc's), and a model
name ``a_`` becomes ``a__``, so the map is one to one).  Names reach the source only
through :func:`biosnn.names.source_token`; a name that is not an identifier is refused.
Locals change nothing the compiler computes: the same operations in the same order
(bit-identical results, and the same compiled speed, measured in docs/benchmarks.md).
Aliases are substituted into the equations before printing (naming them would change
the order of the floating-point operations); :func:`defines` lists them.
"""

from __future__ import annotations

import re

from biosnn.codegen.c_abi import BLOCK, SMAX
from biosnn.names import source_token

__all__ = [
    "LANE_OUTS",
    "LANE_PIECE",
    "LANE_SPLIT",
    "c_name",
    "defines",
    "lane_functions",
    "model_functions",
]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def c_name(name: str) -> str:
    """The C local of a model variable: its name with a trailing underscore.

    Examples
    --------
    >>> c_name("V"), c_name("g_Na")
    ('V_', 'g_Na_')
    """
    token = source_token(name, default="")
    if not _IDENT.match(token):
        raise ValueError(f"{name!r} is not an identifier; it cannot be printed in C")
    return token + "_"


def _note(name: str) -> str:
    """A model name for a comment (``?`` if it is not a plain token)."""
    return source_token(name)


# --------------------------------------------------------------------------------------
# storage: symbol -> local, local -> where it is read from
# --------------------------------------------------------------------------------------
def _storage(spec, state="y[{i}]", param="p[{i}]"):
    """``(store, loads)``: symbol name -> C local, and local -> its array element."""
    store, loads = {spec.t.name: "t"}, {}
    for fmt, names in ((state, spec.states), (param, spec.params)):
        for i, name in enumerate(names):
            store[name] = c_name(name)
            loads[store[name]] = fmt.format(i=i)
    return store, loads


def _load_lines(loads, used, indent: str) -> list:
    """``const double V_ = y[0], m_ = y[1];`` for the used locals, wrapped at ~90."""
    items = [(f"{local} = {src}", src[0]) for local, src in loads.items() if local in used]
    lines, cur, kind = [], "", None
    for item, k in items:  # states and parameters on lines of their own
        if cur and (k != kind or len(indent) + len(cur) + len(item) + 16 > 90):
            lines.append(f"{indent}const double {cur};")
            cur = ""
        cur, kind = (f"{cur}, {item}" if cur else item), k
    if cur:
        lines.append(f"{indent}const double {cur};")
    return lines


def _block(exprs, targets, store, loads=None, notes=None) -> str:
    """Shared exponentials + cse, printed as ``targets[i] = exprs[i];`` C statements.

    :func:`biosnn.codegen.rewrite.share_exponentials` first computes the exponentials of
    all ``exprs`` from as few ``exp`` calls as possible (HH: 3 instead of 6 per call).
    With ``loads`` (local -> array element), the locals the statements use are declared
    first; ``notes`` (one per target, or None) are comments before the statements.
    """
    import sympy as sp

    from biosnn.codegen.c_printer import BiosnnCPrinter
    from biosnn.codegen.rewrite import share_exponentials

    printer = BiosnnCPrinter(store)
    bases, exprs = share_exponentials([sp.sympify(e) for e in exprs])
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("cse", real=True))
    lines = [f"    const double {s.name} = {printer.doprint(e)};" for s, e in bases + repl]
    for k, (tgt, e) in enumerate(zip(targets, reduced, strict=True)):
        if notes and notes[k]:
            lines.append(f"    /* {notes[k]} */")
        lines.append(f"    {tgt} = {printer.doprint(e)};")
    if loads:
        used = set(re.findall(r"\b\w+\b", "\n".join(lines)))
        lines = _load_lines(loads, used, "    ") + lines
    return "\n".join(lines)


_SIG = "(double t, const double *restrict y, const double *restrict p"
_UNUSED = "    (void)t; (void)y; (void)p;\n"


def _func(name, ret, extra, body) -> str:
    return f"static {ret} {name}{_SIG}{extra}) {{\n{_UNUSED}{body}\n}}\n"


def _d_notes(spec) -> list:
    return [f"d{_note(s)}/dt" for s in spec.states]


def model_functions(spec, family: str) -> str:
    """The scalar C model functions a family needs (stubs for absent events).

    The fixed family's driver unit needs the events only (its steps call the lane
    functions), the adaptive family also the drift ``bs_f``, Rosenbrock also ``bs_jac``
    and ``bs_dfdt``.
    """
    store, loads = _storage(spec)
    ns = spec.n_states
    out = []
    if family != "fixed":
        targets = [f"out[{i}]" for i in range(ns)]
        out.append(_split_f(spec.f, targets, store, loads, _d_notes(spec)))
    if family == "rodas":
        states = [_note(s) for s in spec.states]
        out.append(
            _func(
                "bs_jac",
                "void",
                ", double *restrict out",
                _block(
                    [spec.jac[i][j] for i in range(ns) for j in range(ns)],
                    [f"out[{i * ns + j}]" for i in range(ns) for j in range(ns)],
                    store,
                    loads,
                    [f"d(d{states[i]}/dt)/d{states[j]}" for i in range(ns) for j in range(ns)],
                ),
            )
        )
        dfdt = spec.dfdt or (0,) * ns
        out.append(
            _func(
                "bs_dfdt",
                "void",
                ", double *restrict out",
                _block(
                    dfdt,
                    [f"out[{i}]" for i in range(ns)],
                    store,
                    loads,
                    [f"d(d{s}/dt)/dt" for s in states],
                ),
            )
        )
    out.append(_event_functions(spec, store, loads))
    return "\n".join(out)


def _split_f(exprs, targets, store, loads, notes) -> str:
    """The scalar drift ``bs_f``; above :data:`LANE_SPLIT` outputs in pieces
    ``bs_f_0, bs_f_1, ...`` of :data:`LANE_PIECE` outputs called in order (bounded
    compile time, as for the lane functions, see :func:`_lane_func`).
    """
    extra = ", double *restrict out"
    if len(exprs) <= LANE_SPLIT:
        return _func("bs_f", "void", extra, _block(exprs, targets, store, loads, notes))
    out, calls = [], []
    for j, a in enumerate(range(0, len(exprs), LANE_PIECE)):
        s = slice(a, a + LANE_PIECE)
        body = _block(exprs[s], targets[s], store, loads, notes[s])
        out.append(_func(f"bs_f_{j}", "BS_NOINLINE void", extra, body))
        calls.append(f"    bs_f_{j}(t, y, p, out);")
    out.append(_func("bs_f", "void", extra, "\n".join(calls)))
    return "\n".join(out)


_VECTOR_CALLS = (("exp", "bs_vexp"), ("expm1", "bs_vexpm1"), ("bs_xexpm1", "bs_vxexpm1"))


def _vector_calls(text: str) -> str:
    """Calls of libm exp/expm1 and bs_xexpm1 -> their SIMD versions (``bs_vmath.h``)."""
    for name, vname in _VECTOR_CALLS:
        text = re.sub(rf"\b{name}\(", f"{vname}(", text)
    return text


def _lane_storage(spec):
    """Symbol -> local, local -> lane-array element ``X[k*BS_B+l]`` (block layout)."""
    return _storage(spec, "Y[{i}*BS_B+l]", "P[{i}*BS_B+l]")


#: Signature tails of the lane functions (``runtime/bs_fixed.h`` declares them).
LANE_OUTS = {
    "bs_f_v": "double *restrict O",
    "bs_g_v": "double *restrict O",
    "bs_expeuler_v": "double *restrict A, double *restrict B",
    "bs_threshold_v": "int *restrict TH",
}


#: Lane functions of more than ``LANE_SPLIT`` outputs (models of about 100 states or
#: more) are split into pieces of at most ``LANE_PIECE`` outputs: gcc's time grows faster
#: than linearly in the statements of one loop (induction-variable optimisation; a
#: 3000-state chain: 47 s unsplit, 11 s in pieces of 32), so bounded pieces keep the
#: compile time near-linear in the model size.  Smaller functions (every library model)
#: are generated as one loop, unchanged.
LANE_SPLIT, LANE_PIECE = 128, 32


def _lane_loop(head: str, outs: str, exprs, targets, store, loads, notes) -> str:
    """``head {`` + an ``omp simd`` loop over the lanes computing ``targets``."""
    body = _vector_calls(_block(exprs, targets, store, loads, notes))
    body = "\n".join("    " + line for line in body.splitlines())
    unused = "".join(f" (void){o};" for o in outs)
    return (
        f"{head} {{\n"
        f"    (void)t; (void)Y; (void)P;{unused}\n"
        f"#pragma omp simd\n    for (int l = 0; l < BS_B; ++l) {{\n{body}\n    }}\n}}\n"
    )


def _lane_func(name: str, exprs, targets, store, loads, notes) -> str:
    """``BS_KERNEL void name(t, Y, P, outs...)``: an ``omp simd`` loop over the lanes.

    With more than :data:`LANE_SPLIT` outputs: pieces ``name_0, name_1, ...`` of at most
    :data:`LANE_PIECE` outputs each (each its own loop and common subexpressions), called
    in order by ``name``.  The pieces write disjoint outputs and only read ``Y`` and
    ``P``, so every output is the same expression of the same inputs as unsplit (shared
    exponentials and common subexpressions are found per piece, so a value may differ
    from the unsplit one by rounding).
    """
    exprs, targets = list(exprs), list(targets)
    sig = f"(double t, const double *restrict Y, const double *restrict P, {LANE_OUTS[name]})"
    outs = re.findall(r"(\w+)(?:,|$)", LANE_OUTS[name])
    unused = outs if not exprs else []
    if len(exprs) <= LANE_SPLIT:
        return _lane_loop(
            f"BS_KERNEL void {name}{sig}", unused, exprs, targets, store, loads, notes
        )
    args = ", ".join(["t", "Y", "P", *outs])
    out, calls = [], []
    for j, a in enumerate(range(0, len(exprs), LANE_PIECE)):
        s = slice(a, a + LANE_PIECE)
        out.append(
            _lane_loop(
                f"BS_PIECE void {name}_{j}{sig}",
                [],
                exprs[s],
                targets[s],
                store,
                loads,
                notes[s],
            )
        )
        calls.append(f"    {name}_{j}({args});\n")
    out.append(f"BS_KERNEL void {name}{sig} {{\n{''.join(calls)}}}\n")
    return "\n".join(out)


def lane_functions(spec) -> str:
    """Lane versions (block layout) of the drift, noise, threshold and exp-Euler split."""
    store, loads = _lane_storage(spec)
    ns, nn = spec.n_states, spec.n_noises
    lane = "*BS_B+l]"
    states = [_note(s) for s in spec.states]
    out = [
        _lane_func(
            "bs_f_v", spec.f, [f"O[{i}{lane}" for i in range(ns)], store, loads, _d_notes(spec)
        )
    ]
    out.append(
        _lane_func(
            "bs_g_v",
            [spec.g[i][k] for i in range(ns) for k in range(nn)],
            [f"O[{i * nn + k}{lane}" for i in range(ns) for k in range(nn)],
            store,
            loads,
            [f"d{states[i]}/d{_note(spec.noises[k])}" for i in range(ns) for k in range(nn)],
        )
    )
    out.append(_lane_threshold(spec, store, loads))
    ee = spec.exp_euler or (None,) * ns
    exprs, targets, notes = [], [], []
    for i in range(ns):
        a, b = ee[i] if ee[i] is not None else (0, spec.f[i])
        exprs += [a, b]
        targets += [f"A[{i}{lane}", f"B[{i}{lane}"]
        notes += [f"d{states[i]}/dt = A*{states[i]} + B", None]
    out.append(_lane_func("bs_expeuler_v", exprs, targets, store, loads, notes))
    return "\n".join(out)


def _lane_threshold(spec, store, loads) -> str:
    """``bs_threshold_v``: the threshold condition of every lane (0/1) into ``TH``."""
    from biosnn.codegen.c_printer import BiosnnCPrinter

    th = spec.threshold
    head = (
        "BS_KERNEL void bs_threshold_v(double t, const double *restrict Y, "
        "const double *restrict P, int *restrict TH) {\n    (void)t; (void)Y; (void)P;\n"
        "#pragma omp simd\n    for (int l = 0; l < BS_B; ++l) "
    )
    if th is None:
        return head + "TH[l] = 0;\n}\n"
    cond = _vector_calls(BiosnnCPrinter(store).doprint(th))
    body = f"        TH[l] = ({cond}) ? 1 : 0;"
    used = set(re.findall(r"\b\w+\b", body))
    lines = _load_lines(loads, used, "        ")
    return head + "{\n" + "\n".join([*lines, body]) + "\n    }\n}\n"


def _event_functions(spec, store, loads) -> str:
    from biosnn.codegen.c_printer import BiosnnCPrinter

    pr = BiosnnCPrinter(store)

    def with_loads(text):
        used = set(re.findall(r"\b\w+\b", text))
        return "\n".join([*_load_lines(loads, used, "    "), text])

    out = []
    th = spec.threshold
    out.append(
        _func(
            "bs_threshold",
            "int",
            "",
            with_loads("    return (" + pr.doprint(th) + ") ? 1 : 0;")
            if th is not None
            else "    return 0;",
        )
    )
    cr = spec.crossing
    out.append(
        _func(
            "bs_crossing",
            "double",
            "",
            _block([cr], ["return_value"], store, loads).replace("    return_value =", "    return")
            if cr is not None
            else "    return 0.0;",
        )
    )
    # reset statements in order, each reading the states as they are then (y[i] itself)
    reset_store = dict(store)
    reset_store.update({name: f"y[{i}]" for i, name in enumerate(spec.states)})
    pr_reset = BiosnnCPrinter(reset_store)
    reset = "\n".join(
        f"    y[{i}] = {pr_reset.doprint(e)};  /* {_note(spec.states[i])} */" for i, e in spec.reset
    )
    p_loads = {k: v for k, v in loads.items() if v.startswith("p[")}
    if reset:
        used = set(re.findall(r"\b\w+\b", reset))
        reset = "\n".join([*_load_lines(p_loads, used, "    "), reset]) + "\n"
    out.append(
        f"static void bs_reset(double t, double *restrict y, "
        f"const double *restrict p) {{\n{_UNUSED}{reset}}}\n"
    )
    rc = spec.refractory_condition
    out.append(
        _func(
            "bs_refcond",
            "int",
            "",
            with_loads("    return (" + pr.doprint(rc) + ") ? 1 : 0;")
            if rc is not None
            else "    return 0;",
        )
    )
    rt = spec.refractory_time
    body = with_loads(f"    return {pr.doprint(rt)};") if rt is not None else "    return 0.0;"
    out.append(f"static double bs_reftime(const double *restrict p) {{\n    (void)p;\n{body}\n}}\n")
    return "\n".join(out)


def _crossing_defines(spec) -> list:
    """CROSS_AFFINE and CROSS_PARAMS (per parameter: does an affine crossing depend on
    it), for the event search of the adaptive drivers (biosnn.solvers.events).
    """
    aff = spec.crossing_affine if spec.crossing is not None else None
    used = set(aff or ())
    flags = ", ".join("1" if k in used else "0" for k in range(max(spec.n_params, 1)))
    return [f"#define CROSS_AFFINE {int(aff is not None)}", f"#define CROSS_PARAMS {{{flags}}}"]


def _listing(what: str, names, fmt: str) -> list:
    """Comment lines ``what: y[0] V, y[1] m, ...`` wrapped at ~90 characters."""
    items = [fmt.format(i=i, n=_note(n)) for i, n in enumerate(names)]
    lines, cur = [], f"   {what}:"
    for k, item in enumerate(items):
        item += "," if k < len(items) - 1 else ""
        if len(cur) + len(item) + 2 > 88:
            lines.append(cur)
            cur = "     "
        cur += f" {item}"
    return [*lines, cur]


def defines(spec) -> str:
    """Sizes and flags of the model (``#define``), ``bs_held``, and a comment that names
    every state, parameter, noise and alias.
    """
    held = spec.unless_refractory or (False,) * spec.n_states
    has_ref = spec.refractory_time is not None or spec.refractory_condition is not None
    names = ["/* the model's variables (locals in the functions below: the name and _)"]
    names += _listing("states", spec.states, "y[{i}] {n}")
    names += _listing("parameters", spec.params, "p[{i}] {n}")
    if spec.n_noises:
        names += _listing("noises", spec.noises, "{n}")
    aliases = [a for a, _ in spec.aliases or ()]
    if aliases:
        names += _listing("aliases (substituted into the equations)", aliases, "{n}")
    names[-1] += " */"
    lines = [
        *names,
        f"#define NS {spec.n_states}",
        f"#define NP {spec.n_params}",
        f"#define NPA {max(spec.n_params, 1)}",
        f"#define NN {spec.n_noises}",
        f"#define NNA {max(spec.n_noises, 1)}",
        f"#define HAS_THRESHOLD {int(spec.threshold is not None)}",
        f"#define HAS_CROSSING {int(spec.crossing is not None)}",
        f"#define HAS_REF {int(has_ref and spec.threshold is not None)}",
        f"#define REF_BY_TIME {int(spec.refractory_condition is None)}",
        f"#define HAS_RESET {int(bool(spec.reset))}",
        *_crossing_defines(spec),
        f"#define BS_SMAX {SMAX}",
        f"#define BS_B {BLOCK}",
        "static const int bs_held[NS] = {" + ", ".join(str(int(h)) for h in held) + "};",
    ]
    return "\n".join(lines) + "\n"
