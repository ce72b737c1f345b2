"""C backend: one C99 translation unit per (model, driver family), run from Python.

The generated source has three parts:

1. the model functions of a :class:`~biosnn.codegen.spec.KernelSpec`, printed with
   :mod:`biosnn.codegen.c_printer` after
   :func:`~biosnn.codegen.rewrite.share_exponentials` and ``sympy.cse`` (``bs_f``, ``bs_jac``,
   ``bs_dfdt``, ``bs_threshold``, ``bs_crossing``, ``bs_reset``, ``bs_refcond``,
   ``bs_reftime``) and, for the fixed-step family, their *lane* versions ``bs_f_v``,
   ``bs_g_v``, ``bs_expeuler_v``, ``bs_threshold_v`` - ``omp simd`` loops over the
   ``BS_B`` lanes of a block, with libm ``exp``/``expm1`` and ``bs_xexpm1`` replaced by
   the SIMD versions of ``_VMATH`` (<= 2 ulp; ``bs_vee`` is one exponential-Euler
   update) - only those the family needs;
2. the common run-time: stimulus lookup, refractory masking, recording, spike buffer;
3. the driver of the family, so the whole loop runs in C:

   ``fixed``     generic explicit RK (any tableau, passed as data), exponential Euler,
                 exact (propagator argument), Euler-Maruyama, stochastic Heun; instances
                 in blocks of ``BLOCK`` lanes (structure of arrays), blocks spread over
                 OpenMP threads (``n_threads``: ``$BIOSNN_NUM_THREADS``, default all
                 cores); the layout is described at the top of ``_FIXED``
   ``adaptive``  embedded RK (rk23, rk45, dop853) with PI control, dense output, every
                 crossing inside a step found and located on the interpolant (the
                 algorithm of biosnn.solvers.events: ``bs_find_spikes``), restart after
                 reset, breakpoints, recording from the interpolant
   ``rodas``     Rosenbrock (rodas4) with the symbolic Jacobian and a dense LU per step

   (``adaptive`` and ``rodas`` run instance by instance.)

Compilation units
-----------------
The fixed family's source is two units (:data:`UNIT_MARKER`; the text before the first
marker is common to both): ``kernels`` - the SIMD maths, the lane functions and the
steppers that call them (``bs_vstep_rk``, ``bs_vstep_expeuler``) and the driver's
per-step checks (``bs_vend``), at :data:`KERNEL_OPT` (``-O2 -ffp-contract=fast``) with an
x86-64-v3 clone (AVX2 and fused multiply-add; GCC >= 12, else an AVX2 clone without FMA)
and the portable default - and ``driver`` - the scalar model functions, the other
steppers, events, blocks and threads, at :data:`DRIVER_OPT` (ISO C, no contraction).
:func:`biosnn.codegen.c_build.build` compiles them in parallel and links one library
(the kernel functions are hidden symbols); the whole text is also one valid translation
unit.  The driver is written so that -O1 costs it nothing measurable (locals instead of
struct fields in the per-step loops, no ``omp simd`` reductions); the HH ensemble runs
as fast as with one -O2 unit, while the compiler's work drops from about 0.8 s in one
process to 0.4 s (kernels) and 0.2 s (driver) in two.  The adaptive and Rosenbrock
families are one unit at -O2.

C API
-----
Every translation unit exports ``int bs_run(bs_args *a)``; ``bs_args`` is a struct whose
layout is generated from :data:`ARG_FIELDS` (the same list builds the ctypes Structure).
Everything that may change between runs (parameters, y0, dt, tolerances, tableau,
controller, stimuli, seed, record settings, buffers) is a field, so changing it never
recompiles.  Return codes are :data:`STATUS`; on ``BS_FULL`` (spike buffer full)
``fail_instance`` is the instance to resume from, ``n_spikes`` counts the spikes kept and
``spike_need`` (fixed family) the buffer size needed; Python grows the buffer and calls
again with ``i_start = fail_instance``.  Adaptive/Rosenbrock roll back the instance that
overflowed and re-run it (every per-instance output is rewritten, the noise is
counter-based: the re-run is exact); the fixed family keeps the merged spikes of the run
in ``stash`` (malloc'd, freed by the next call) and returns ``fail_instance = n``, so the
next call only copies them.

Semantics follow docs/architecture.md ("Solver semantics") and the details fixed by the
NumPy drivers (:mod:`biosnn.solvers.drivers`, :mod:`~biosnn.solvers.events`,
:mod:`~biosnn.solvers.controllers`): stage-time stimulus lookup in fixed-step methods and
step-start values of ``step`` stimuli inside adaptive steps, Illinois / bisection to
``1e-12*max(1, |t|)``, restart only after a reset or a refractoriness change or on a
breakpoint, the PI controller of ``controllers`` (``min(fac, 1)`` right after a
rejection), Hairer's initial step, DOP853's combined error estimator, records from the
interpolant.  One choice is the C backend's own: for exponential Euler a state whose
equation is not conditionally linear (``exp_euler[i] is None``) is advanced by forward
Euler (``simulate`` refuses such models before they get here).

Performance (measured on the 2-core benchmark machine, 10,000 HH neurons): the
fixed-step block driver runs the drift of 8 lanes as one vectorized loop (x86-64-v3
clone with FMA chosen at load time, SSE2 otherwise; no ``-march=native`` so the cache
stays portable) and uses both cores (benchmarks/hh_ensemble.py measures it).  Results
are identical for any thread count (blocks are independent and merged in order) and
for any position of an instance among the blocks; the FMA clone and the portable one
agree to a few ulp per step, not bit for bit (docs/architecture.md, "Floating-point
contract of the C kernels").  Exponential Euler evaluates ``expm1(A dt)/A`` as
``dt*phi1(A dt)`` by a polynomial where ``|A dt| <= ln2/2`` (HH: the gates always, the
voltage between spikes), without range reduction or division.  The adaptive and
Rosenbrock families still run one instance at a time on scalar libm; their stage sums
loop over stages outside and the (constant) states inside, and the PI controller costs
one ``log`` and one ``exp`` per step.  In every family the shared-exponential rewrite
cuts HH's six rate exponentials to three ``exp`` calls.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from biosnn.errors import MethodError, SimulationError
from biosnn.solvers.request import ADAPTIVE, FIXED_STEP, STIFF, STOCHASTIC, RawRun

__all__ = [
    "ARG_FIELDS",
    "STATUS",
    "CKernel",
    "available",
    "family_of",
    "generate_source",
    "kernel",
    "run",
]

#: Driver family of each method.
FAMILIES = {
    **{m: "fixed" for m in FIXED_STEP + STOCHASTIC},
    **{m: "adaptive" for m in ADAPTIVE},
    **{m: "rodas" for m in STIFF},
}
#: Method codes of the fixed-step driver.
FIXED_CODES = {"exponential_euler": 1, "exact": 2, "euler_maruyama": 3, "stochastic_heun": 4}
STATUS = {
    0: "ok",
    1: "spike buffer full",
    2: "non-finite state",
    3: "max_steps exceeded",
    4: "step size underflow",
    5: "singular iteration matrix",
    6: "out of memory",
    7: "interrupted",
}
#: Lanes of a block of the fixed-step driver (instances processed together, SoA).
BLOCK = 8
SMAX = 20  # largest number of stages of a tableau

_I, _D, _U, _PI, _PD = "int64_t", "double", "uint64_t", "int64_t *", "double *"
#: Layout of ``bs_args`` (C struct and ctypes Structure are both built from it).
ARG_FIELDS = (
    ("n", _I),
    ("i_start", _I),
    ("method", _I),
    ("t0", _D),
    ("t1", _D),
    ("dt", _D),
    ("rtol", _D),
    ("atol", _D),
    ("n_steps", _I),
    ("record_every", _I),
    ("record_dt", _D),
    ("n_rec", _I),
    ("n_record", _I),
    ("record_states", _PI),
    ("y0", _PD),
    ("params", _PD),
    ("y_rec", _PD),
    ("y_final", _PD),
    ("n_stim", _I),
    ("stim_param", _PI),
    ("stim_kind", _PI),
    ("stim_ntimes", _PI),
    ("stim_ncols", _PI),
    ("stim_toff", _PI),
    ("stim_voff", _PI),
    ("stim_times", _PD),
    ("stim_values", _PD),
    ("n_bp", _I),
    ("bp", _PD),
    ("key", _U),
    ("max_steps", _I),
    ("prop", _PD),
    ("prop_ncols", _I),
    ("s", _I),
    ("s_total", _I),
    ("q", _I),
    ("fsal", _I),
    ("has_low", _I),
    ("c", _PD),
    ("A", _PD),
    ("b", _PD),
    ("b_err", _PD),
    ("b_err_low", _PD),
    ("dense", _PD),
    ("ros_d", _PD),
    ("ros_C", _PD),
    ("gamma", _D),
    ("safety", _D),
    ("fac_min", _D),
    ("fac_max", _D),
    ("beta1", _D),
    ("beta2", _D),
    ("expo_rej", _D),
    ("spike_cap", _I),
    ("n_spikes", _I),
    ("spike_index", _PI),
    ("spike_time", _PD),
    ("stats", _PI),
    ("fail_instance", _I),
    ("fail_var", _I),
    ("fail_time", _D),
    ("n_threads", _I),
    ("spike_need", _I),
    ("stash", _PD),
    ("stash_n", _I),
    ("stop", _PI),  # Ctrl-C: the drivers return BS_STOP once *stop != 0
)

_CTYPES = {
    _I: ctypes.c_int64,
    _D: ctypes.c_double,
    _U: ctypes.c_uint64,
    _PI: ctypes.c_void_p,
    _PD: ctypes.c_void_p,
}


class BsArgs(ctypes.Structure):
    """ctypes mirror of the C ``bs_args`` struct."""

    _fields_ = [(name, _CTYPES[kind]) for name, kind in ARG_FIELDS]


def _c_struct() -> str:
    lines = [f"    {kind}{'' if kind.endswith('*') else ' '}{name};" for name, kind in ARG_FIELDS]
    return "typedef struct {\n" + "\n".join(lines) + "\n} bs_args;\n"


# --------------------------------------------------------------------------------------
# model functions
# --------------------------------------------------------------------------------------
def _storage(spec) -> dict:
    store = {name: f"y[{i}]" for i, name in enumerate(spec.states)}
    store.update({name: f"p[{k}]" for k, name in enumerate(spec.params)})
    store[spec.t.name] = "t"
    return store


def _block(exprs, targets, store) -> str:
    """Shared exponentials + cse, printed as ``targets[i] = exprs[i];`` C statements.

    :func:`biosnn.codegen.rewrite.share_exponentials` first computes the exponentials of
    all ``exprs`` from as few ``exp`` calls as possible (HH: 3 instead of 6 per call).
    """
    import sympy as sp

    from biosnn.codegen.c_printer import BiosnnCPrinter
    from biosnn.codegen.rewrite import share_exponentials

    printer = BiosnnCPrinter(store)
    bases, exprs = share_exponentials([sp.sympify(e) for e in exprs])
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("cse", real=True))
    lines = [f"    const double {s.name} = {printer.doprint(e)};" for s, e in bases + repl]
    lines += [f"    {tgt} = {printer.doprint(e)};" for tgt, e in zip(targets, reduced)]
    return "\n".join(lines)


_SIG = "(double t, const double *restrict y, const double *restrict p"


def _func(name, ret, extra, body) -> str:
    return f"static {ret} {name}{_SIG}{extra}) {{\n{body}\n}}\n"


def _model_functions(spec, family: str) -> str:
    """The scalar C model functions a family needs (stubs for absent events)."""
    store = _storage(spec)
    ns = spec.n_states
    out = [_split_f(spec.f, [f"out[{i}]" for i in range(ns)], store)]
    if family == "rodas":
        out.append(
            _func(
                "bs_jac",
                "void",
                ", double *restrict out",
                _block(
                    [spec.jac[i][j] for i in range(ns) for j in range(ns)],
                    [f"out[{i * ns + j}]" for i in range(ns) for j in range(ns)],
                    store,
                ),
            )
        )
        dfdt = spec.dfdt or (0,) * ns
        out.append(
            _func(
                "bs_dfdt",
                "void",
                ", double *restrict out",
                _block(dfdt, [f"out[{i}]" for i in range(ns)], store),
            )
        )
    out.append(_event_functions(spec, store))
    return "\n".join(out)


def _split_f(exprs, targets, store) -> str:
    """The scalar drift ``bs_f``; above :data:`LANE_SPLIT` outputs in pieces
    ``bs_f_0, bs_f_1, ...`` of :data:`LANE_PIECE` outputs called in order (bounded
    compile time, as for the lane functions, see :func:`_lane_func`).
    """
    extra = ", double *restrict out"
    if len(exprs) <= LANE_SPLIT:
        return _func("bs_f", "void", extra, _block(exprs, targets, store))
    out, calls = [], []
    for j, a in enumerate(range(0, len(exprs), LANE_PIECE)):
        body = "    (void)t; (void)y; (void)p;\n" + _block(
            exprs[a : a + LANE_PIECE], targets[a : a + LANE_PIECE], store
        )
        out.append(_func(f"bs_f_{j}", "BS_NOINLINE void", extra, body))
        calls.append(f"    bs_f_{j}(t, y, p, out);")
    out.append(_func("bs_f", "void", extra, "\n".join(calls)))
    return (
        "#ifndef BS_NOINLINE\n#if defined(__GNUC__)\n"
        "#define BS_NOINLINE __attribute__((noinline))\n#else\n#define BS_NOINLINE\n"
        "#endif\n#endif\n" + "\n".join(out)
    )


_VECTOR_CALLS = (("exp", "bs_vexp"), ("expm1", "bs_vexpm1"), ("bs_xexpm1", "bs_vxexpm1"))


def _vector_calls(text: str) -> str:
    """Calls of libm exp/expm1 and bs_xexpm1 -> their SIMD versions (``_VMATH``)."""
    import re

    for name, vname in _VECTOR_CALLS:
        text = re.sub(rf"\b{name}\(", f"{vname}(", text)
    return text


def _lane_storage(spec) -> dict:
    """Symbol -> lane-array element ``X[k*BS_B+l]`` (block layout, see ``_FIXED``)."""
    store = {name: f"Y[{i}*BS_B+l]" for i, name in enumerate(spec.states)}
    store.update({name: f"P[{k}*BS_B+l]" for k, name in enumerate(spec.params)})
    store[spec.t.name] = "t"
    return store


#: Signature tails of the lane functions (the driver unit declares them, see _FIXED_TYPES).
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

#: Attributes of the pieces of a split lane function: file-local, with the clones of the
#: kernel unit, and never inlined back into one large function.
_PIECE_ATTRS = """#ifndef BS_PIECE
#if defined(__GNUC__)
#define BS_PIECE static __attribute__((noinline)) BS_CLONES
#else
#define BS_PIECE static
#endif
#endif
"""


def _lane_loop(head: str, exprs, targets, store) -> str:
    """``head {`` + an ``omp simd`` loop over the lanes computing ``targets``."""
    body = _vector_calls(_block(exprs, targets, store))
    body = "\n".join("    " + line for line in body.splitlines())
    return (
        f"{head} {{\n"
        f"    (void)t; (void)Y; (void)P;\n"
        f"#pragma omp simd\n    for (int l = 0; l < BS_B; ++l) {{\n{body}\n    }}\n}}\n"
    )


def _lane_func(name: str, exprs, targets, store) -> str:
    """``BS_KERNEL void name(t, Y, P, outs...)``: an ``omp simd`` loop over the lanes.

    With more than :data:`LANE_SPLIT` outputs: pieces ``name_0, name_1, ...`` of at most
    :data:`LANE_PIECE` outputs each (each its own loop and common subexpressions), called
    in order by ``name``.  The pieces write disjoint outputs and only read ``Y`` and
    ``P``, so every output is the same expression of the same inputs as unsplit (shared
    exponentials and common subexpressions are found per piece, so a value may differ
    from the unsplit one by rounding).
    """
    import re

    exprs, targets = list(exprs), list(targets)
    sig = f"(double t, const double *restrict Y, const double *restrict P, {LANE_OUTS[name]})"
    if len(exprs) <= LANE_SPLIT:
        return _lane_loop(f"BS_KERNEL void {name}{sig}", exprs, targets, store)
    args = ", ".join(["t", "Y", "P"] + re.findall(r"(\w+)(?:,|$)", LANE_OUTS[name]))
    out, calls = [_PIECE_ATTRS], []
    for j, a in enumerate(range(0, len(exprs), LANE_PIECE)):
        out.append(
            _lane_loop(
                f"BS_PIECE void {name}_{j}{sig}",
                exprs[a : a + LANE_PIECE],
                targets[a : a + LANE_PIECE],
                store,
            )
        )
        calls.append(f"    {name}_{j}({args});\n")
    out.append(f"BS_KERNEL void {name}{sig} {{\n{''.join(calls)}}}\n")
    return "\n".join(out)


def _lane_functions(spec) -> str:
    """Lane versions (block layout) of the drift, noise, threshold and exp-Euler split."""
    store = _lane_storage(spec)
    ns, nn = spec.n_states, spec.n_noises
    lane = "*BS_B+l]"
    out = [_lane_func("bs_f_v", spec.f, [f"O[{i}{lane}" for i in range(ns)], store)]
    out.append(
        _lane_func(
            "bs_g_v",
            [spec.g[i][k] for i in range(ns) for k in range(nn)],
            [f"O[{i * nn + k}{lane}" for i in range(ns) for k in range(nn)],
            store,
        )
    )
    out.append(_lane_threshold(spec, store))
    ee = spec.exp_euler or (None,) * ns
    exprs, targets = [], []
    for i in range(ns):
        a, b = ee[i] if ee[i] is not None else (0, spec.f[i])
        exprs += [a, b]
        targets += [f"A[{i}{lane}", f"B[{i}{lane}"]
    out.append(_lane_func("bs_expeuler_v", exprs, targets, store))
    return "\n".join(out)


def _lane_threshold(spec, store) -> str:
    """``bs_threshold_v``: the threshold condition of every lane (0/1) into ``TH``."""
    from biosnn.codegen.c_printer import BiosnnCPrinter

    th = spec.threshold
    cond = (
        "(" + _vector_calls(BiosnnCPrinter(store).doprint(th)) + ") ? 1 : 0"
        if th is not None
        else "0"
    )
    return (
        "BS_KERNEL void bs_threshold_v(double t, const double *restrict Y, "
        "const double *restrict P, int *restrict TH) {\n    (void)t; (void)Y; (void)P;\n"
        "#pragma omp simd\n    for (int l = 0; l < BS_B; ++l) TH[l] = "
        f"{cond};\n}}\n"
    )


def _event_functions(spec, store) -> str:
    from biosnn.codegen.c_printer import BiosnnCPrinter

    pr = BiosnnCPrinter(store)
    out = []
    th = spec.threshold
    out.append(
        _func(
            "bs_threshold",
            "int",
            "",
            "    return " + ("(" + pr.doprint(th) + ") ? 1 : 0;" if th is not None else "0;"),
        )
    )
    cr = spec.crossing
    out.append(
        _func(
            "bs_crossing",
            "double",
            "",
            _block([cr], ["return_value"], store).replace("    return_value =", "    return")
            if cr is not None
            else "    return 0.0;",
        )
    )
    reset = "\n".join(f"    y[{i}] = {pr.doprint(e)};" for i, e in spec.reset)
    out.append(
        f"static void bs_reset(double t, double *restrict y, "
        f"const double *restrict p) {{\n    (void)t; (void)p;\n{reset}\n}}\n"
    )
    rc = spec.refractory_condition
    out.append(
        _func(
            "bs_refcond",
            "int",
            "",
            "    return " + ("(" + pr.doprint(rc) + ") ? 1 : 0;" if rc is not None else "0;"),
        )
    )
    rt = spec.refractory_time
    out.append(
        f"static double bs_reftime(const double *restrict p) {{\n    (void)p;\n"
        f"    return {pr.doprint(rt) if rt is not None else '0.0'};\n}}\n"
    )
    return "\n".join(out)


def _crossing_defines(spec) -> list:
    """CROSS_AFFINE and CROSS_PARAMS (per parameter: does an affine crossing depend on
    it), for the event search of the adaptive drivers (biosnn.solvers.events).
    """
    aff = spec.crossing_affine if spec.crossing is not None else None
    used = set(aff or ())
    flags = ", ".join("1" if k in used else "0" for k in range(max(spec.n_params, 1)))
    return [f"#define CROSS_AFFINE {int(aff is not None)}", f"#define CROSS_PARAMS {{{flags}}}"]


def _defines(spec) -> str:
    held = spec.unless_refractory or (False,) * spec.n_states
    has_ref = spec.refractory_time is not None or spec.refractory_condition is not None
    lines = [
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


_HEADER = """/* generated by biosnn.codegen.c_backend - do not edit */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#if defined(__GNUC__)
#define BS_INLINE inline __attribute__((always_inline))
#else
#define BS_INLINE inline
#endif
/* the lane functions get clones picked at load time (ifunc): x86-64-v3 (AVX2 and FMA;
   the kernel unit is compiled with -ffp-contract=fast, so there a*b + c is one fused
   multiply-add, rounded once) and the portable default (SSE2, no FMA).  The two agree
   to a few ulp, not bit for bit; one machine always picks the same clone.  GCC before
   12 cannot dispatch on x86-64-v3: AVX2 clone without FMA. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 \
    && defined(__linux__) && !defined(BS_NO_CLONES)
#define BS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8 \
    && defined(__linux__) && !defined(BS_NO_CLONES)
#define BS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BS_CLONES
#endif
#if defined(__GNUC__)
#define BS_HIDDEN __attribute__((visibility("hidden")))
#else
#define BS_HIDDEN
#endif
/* functions of the kernel unit (lane functions, steppers): not exported from the
   library, callable from the driver unit, with their clones */
#define BS_KERNEL BS_HIDDEN BS_CLONES
"""

#: Marks the start of a compilation unit in a generated source: everything before the
#: first marker is common to all units; :func:`biosnn.codegen.c_build.build` compiles the
#: units in parallel with their own optimisation level and links them into one library.
#: The whole text is also one valid translation unit (the markers are comments).
UNIT_MARKER = "/* biosnn-unit {name} {opt} */\n"

# --------------------------------------------------------------------------------------
# common C run-time
# --------------------------------------------------------------------------------------
_COMMON_STIM = r"""
enum { BS_OK = 0, BS_FULL = 1, BS_BLOWUP = 2, BS_MAXSTEPS = 3, BS_UNDERFLOW = 4,
       BS_SINGULAR = 5, BS_NOMEM = 6, BS_STOP = 7 };
/* Ctrl-C: Python sets *stop from another thread; read once per step (biosnn/_interrupt.py) */
#define BS_STOPPED(a) ((a)->stop && *(volatile const int64_t *)(a)->stop)

/* stimulus tables: parameter values at time t (step or linear) */
static void bs_stim(const bs_args *a, int64_t i, double t, double ts, double *p) {
    for (int64_t s = 0; s < a->n_stim; ++s) {
        const double tt = a->stim_kind[s] == 0 ? ts : t;
        const double *T = a->stim_times + a->stim_toff[s];
        const double *V = a->stim_values + a->stim_voff[s];
        const int64_t m = a->stim_ntimes[s], nc = a->stim_ncols[s];
        const int64_t col = nc == 1 ? 0 : i;
        int64_t lo = 0, hi = m;
        while (lo < hi) { int64_t mid = (lo + hi) / 2; if (T[mid] <= tt) lo = mid + 1; else hi = mid; }
        const int64_t j = lo - 1;
        double v;
        if (j < 0) v = V[col];
        else if (a->stim_kind[s] == 0 || j >= m - 1) v = V[j * nc + col];
        else {
            const double w = (tt - T[j]) / (T[j + 1] - T[j]);
            v = V[j * nc + col] + w * (V[(j + 1) * nc + col] - V[j * nc + col]);
        }
        p[a->stim_param[s]] = v;
    }
}
"""

_COMMON = r"""
static void bs_load(const bs_args *a, int64_t i, double *y, double *p) {
    for (int k = 0; k < NS; ++k) y[k] = a->y0[k * a->n + i];
    for (int k = 0; k < NP; ++k) p[k] = a->params[k * a->n + i];
}

static void bs_store(bs_args *a, int64_t i, const double *y, int64_t nrhs, int64_t nacc,
                     int64_t nrej, int64_t njac) {
    for (int k = 0; k < NS; ++k) a->y_final[k * a->n + i] = y[k];
    a->stats[4 * i] = nacc; a->stats[4 * i + 1] = nrej;
    a->stats[4 * i + 2] = nrhs; a->stats[4 * i + 3] = njac;
}

/* drift with stimulus lookup and refractory holding */
static void bs_rhs(const bs_args *a, int64_t i, double t, double ts, const double *y,
                   double *p, int ref, double *dy) {
    if (a->n_stim) bs_stim(a, i, t, ts, p);
    bs_f(t, y, p, dy);
    if (ref) for (int k = 0; k < NS; ++k) if (bs_held[k]) dy[k] = 0.0;
}

static int bs_finite(const double *y, int64_t *bad) {
    for (int k = 0; k < NS; ++k) if (!isfinite(y[k])) { *bad = k; return 0; }
    return 1;
}

static void bs_record(bs_args *a, int64_t i, int64_t k, const double *y) {
    for (int64_t r = 0; r < a->n_record; ++r)
        a->y_rec[(r * a->n + i) * a->n_rec + k] = y[a->record_states[r]];
}

/* the state that changed most (relative to the tolerance) in the last trial step */
static int64_t bs_worst(const bs_args *a, const double *y, const double *yn) {
    int64_t worst = 0;
    double big = -1.0;
    for (int k = 0; k < NS; ++k) {
        const double d = fabs(yn[k] - y[k]) / (a->atol + a->rtol * fabs(y[k]));
        if (!(d <= big)) { big = d; worst = k; }
    }
    return worst;
}

static int bs_spike(bs_args *a, int64_t i, double ts) {
    if (a->n_spikes >= a->spike_cap) return 1;
    a->spike_index[a->n_spikes] = i;
    a->spike_time[a->n_spikes] = ts;
    a->n_spikes += 1;
    return 0;
}

static int bs_fail(bs_args *a, int64_t i, double t, int64_t var, int status) {
    a->fail_instance = i; a->fail_time = t; a->fail_var = var;
    return status;
}

static double bs_rms(const double *e, const double *y0, const double *y1, double rtol,
                     double atol) {
    double acc = 0.0;
    for (int k = 0; k < NS; ++k) {
        const double sc = atol + rtol * fmax(fabs(y0[k]), fabs(y1[k]));
        const double q = e[k] / sc;
        acc += q * q;
    }
    return sqrt(acc / NS);
}

"""

# adaptive and Rosenbrock drivers: instance by instance
_SERIAL_RUN = r"""
/* one instance after the other; on a full spike buffer roll back that instance */
static int bs_instance(bs_args *a, int64_t i);
int bs_run(bs_args *a) {
    for (int64_t i = a->i_start; i < a->n; ++i) {
        const int64_t n0 = a->n_spikes;
        const int st = bs_instance(a, i);
        if (st != BS_OK) {
            if (st == BS_FULL) a->n_spikes = n0;
            a->fail_instance = i;
            return st;
        }
    }
    return BS_OK;
}
"""

# --------------------------------------------------------------------------------------
# fixed-step family
# --------------------------------------------------------------------------------------
_FIXED_TYPES = r"""
/* ---------------------------------------------------------------------------------
   Fixed-step family: instances in blocks of BS_B lanes, structure of arrays.

   Lane l of a block holds instance i0 + l; every per-instance quantity of a block is a
   lane array X[k*BS_B + l] (state k, parameter k, stage k, noise k), so the model
   functions bs_*_v are `omp simd` loops over the lanes that the compiler vectorizes
   (with bs_vexp/bs_vexpm1 instead of libm).

   Two compilation units: the kernel unit (lane functions, the steppers that call them
   and bs_vend, -O2 -ffp-contract=fast, with their x86-64-v3 clone) and the driver unit
   (everything else, -O1, ISO C), compiled in parallel and linked into one library;
   this common part declares what they share.

   All lanes of a block step in lock step (same t); stimuli, noise, events, reset,
   refractoriness, recording and blow-up checks are done per lane in scalar code with
   the same formulas as the instance-by-instance drivers.  A partial last block pads
   its lanes with copies of its first instance (same stimulus column, noise stream and
   events, so they mirror it exactly); padded lanes write nothing.

   Blocks are independent: OpenMP threads take them in any order (n_threads).  Each block
   collects its spikes in its own growing list (sorted by lane, then time, at its end);
   bs_run merges the lists in block order, so the output does not depend on the thread
   count.  Blow-up: the lowest failing instance is reported (as an instance-by-instance
   run would).  If the merged spikes do not fit the caller's buffer, they are kept in
   a->stash, a->spike_need says how many are needed, and BS_FULL is returned with
   fail_instance = n: the caller grows the buffer and calls again, which only copies.
   --------------------------------------------------------------------------------- */

typedef struct {                /* the lane arrays of one block */
    double Y[NS * BS_B], YN[NS * BS_B], YT[NS * BS_B];
    double P[NPA * BS_B], Pl[BS_B][NPA];    /* parameters: lanes (SoA) and per lane */
    double K[BS_SMAX][NS * BS_B];
    double G0[NS * NNA * BS_B], G1[NS * NNA * BS_B], DW[NNA * BS_B];
    int r[BS_B], any_r;                      /* refractory in the current step */
    int ref[BS_B], th_prev[BS_B], dead[BS_B];
    double ref_end[BS_B];
    int64_t i0; int nl;                     /* first instance, number of real lanes */
} bs_work;

typedef struct {                /* result of one block */
    int status; int64_t fail_i, fail_var; double fail_time;
    int64_t ns, cap; int64_t *lane; double *tim;
} bs_bres;

static inline int64_t bs_lane_i(const bs_work *W, int l) {
    return W->i0 + (l < W->nl ? l : 0);
}

/* stimulus values at (t, ts) into the per-lane and the lane-array parameters */
static void bs_vstim(const bs_args *a, bs_work *W, double t, double ts) {
    if (!a->n_stim) return;
    for (int l = 0; l < BS_B; ++l) {
        bs_stim(a, bs_lane_i(W, l), t, ts, W->Pl[l]);
        for (int64_t s = 0; s < a->n_stim; ++s) {
            const int64_t k = a->stim_param[s];
            W->P[k * BS_B + l] = W->Pl[l][k];
        }
    }
}

/* refractory lanes: held states keep their value (D: drift zeroed / YN: copied) */
static void bs_vhold(const bs_work *W, double *D, const double *keep) {
    if (!W->any_r) return;
    for (int k = 0; k < NS; ++k) {
        if (!bs_held[k]) continue;
        for (int l = 0; l < BS_B; ++l)
            if (W->r[l]) D[k * BS_B + l] = keep ? keep[k * BS_B + l] : 0.0;
    }
}

static BS_INLINE void bs_vrhs(const bs_args *a, bs_work *W, double t, const double *Yin,
                              double *D) {
    bs_vstim(a, W, t, t);
    bs_f_v(t, Yin, W->P, D);
    bs_vhold(W, D, 0);
}

/* defined in the kernel unit, called from the driver unit */
BS_HIDDEN void bs_vstep_rk(const bs_args *a, bs_work *W, double t);
BS_HIDDEN void bs_vstep_expeuler(const bs_args *a, bs_work *W, double t);
BS_HIDDEN int bs_vend(double tn, const bs_work *W, int *TH);
"""

#: Kernel unit of the fixed family: the steppers that call the lane functions.
_FIXED_KERNELS = r"""
/* out = y + dt * sum_{m<s} coef[m] K[m] over all lane entries (the scalar order) */
static BS_INLINE void bs_vcombine(double *restrict out, const double *restrict Y, double dt,
                                  const double *restrict coef, int64_t s,
                                  double (*restrict K)[NS * BS_B]) {
    double acc[NS * BS_B];
    if (s == 0) {
#pragma omp simd
        for (int j = 0; j < NS * BS_B; ++j) out[j] = Y[j] + dt * 0.0;
        return;
    }
    const double c0 = coef[0];
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) acc[j] = c0 * K[0][j];
    for (int64_t m = 1; m < s; ++m) {
        const double c = coef[m];
        const double *restrict Km = K[m];
#pragma omp simd
        for (int j = 0; j < NS * BS_B; ++j) acc[j] += c * Km[j];
    }
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) out[j] = Y[j] + dt * acc[j];
}

/* generic explicit RK step (tableau a->c, a->A, a->b) */
BS_KERNEL void bs_vstep_rk(const bs_args *a, bs_work *W, double t) {
    const int64_t S = a->s, ST = a->s_total;
    const double dt = a->dt;
    for (int64_t s = 0; s < S; ++s) {
        bs_vcombine(W->YT, W->Y, dt, a->A + s * ST, s, W->K);
        bs_vrhs(a, W, t + a->c[s] * dt, W->YT, W->K[s]);
    }
    bs_vcombine(W->YN, W->Y, dt, a->b, S, W->K);
}

/* y <- y + (A y + B) expm1(A dt)/A with A, B at the step start (dt where A = 0); the
   rates and the update are two lane loops (one fused loop spills registers and was
   measured no faster).  The update goes state by state: when |A dt| <= ln2/2 on every
   lane (gates always, the voltage between spikes) only the phi1 polynomial is
   evaluated; otherwise bs_vee picks per lane.  Both give a lane the same bits (the same
   expression on the same path), so a lane never depends on its neighbours. */
BS_KERNEL void bs_vstep_expeuler(const bs_args *a, bs_work *W, double t) {
    const double dt = a->dt;
    double *A = W->K[0], *B = W->K[1], *YN = W->YN;
    const double *Y = W->Y;
    bs_vstim(a, W, t, t);
    bs_expeuler_v(t, Y, W->P, A, B);
    for (int k = 0; k < NS; ++k) {
        const double *restrict Ak = A + k * BS_B, *restrict Bk = B + k * BS_B,
            *restrict Yk = Y + k * BS_B;
        double *restrict Nk = YN + k * BS_B;
        double big = 0.0;               /* max |A dt| (a NaN lane is NaN on either path) */
#pragma omp simd reduction(max:big)
        for (int l = 0; l < BS_B; ++l) {
            const double x = fabs(Ak[l] * dt);
            big = x > big ? x : big;
        }
        if (big <= BS_PHI1_X) {
#pragma omp simd
            for (int l = 0; l < BS_B; ++l)
                Nk[l] = Yk[l] + (Ak[l] * Yk[l] + Bk[l]) * (dt * bs_phi1_poly(Ak[l] * dt));
        } else {
#pragma omp simd
            for (int l = 0; l < BS_B; ++l) Nk[l] = bs_vee(Yk[l], Ak[l], Bk[l], dt);
        }
    }
    bs_vhold(W, YN, Y);
}

/* the per-step checks of the driver, vectorised here (the driver unit is scalar, -O1):
   bit 0 - some entry of YN is not finite (x*0 is NaN iff x is not finite, and a NaN
   survives any order of additions); bit 1 - some lane's threshold condition (TH, at
   the step end) became true */
BS_KERNEL int bs_vend(double tn, const bs_work *W, int *TH) {
    double acc = 0.0;
#pragma omp simd reduction(+:acc)
    for (int j = 0; j < NS * BS_B; ++j) acc += W->YN[j] * 0.0;
    int flags = acc == 0.0 ? 0 : 1;
    if (HAS_THRESHOLD) {
        bs_threshold_v(tn, W->YN, W->P, TH);
        int up = 0;
#pragma omp simd reduction(|:up)
        for (int l = 0; l < BS_B; ++l) up |= TH[l] & !W->th_prev[l];
        flags |= up ? 2 : 0;
    }
    return flags;
}
"""

#: Driver unit of the fixed family: the other steppers, events, blocks, threads.
_FIXED = r"""
static void bs_vload(const bs_args *a, bs_work *W) {
    for (int l = 0; l < BS_B; ++l) {
        const int64_t i = bs_lane_i(W, l);
        for (int k = 0; k < NS; ++k) W->Y[k * BS_B + l] = a->y0[k * a->n + i];
        for (int k = 0; k < NP; ++k)
            W->P[k * BS_B + l] = W->Pl[l][k] = a->params[k * a->n + i];
    }
}

/* exact propagator (per lane) */
static void bs_vstep_exact(const bs_args *a, bs_work *W) {
    const int M = NS + 1;
    for (int l = 0; l < BS_B; ++l) {
        const double *P = a->prop + (a->prop_ncols == 1 ? 0 : bs_lane_i(W, l)) * M * M;
        for (int k = 0; k < NS; ++k) {
            double acc = P[k * M + NS];
            for (int j = 0; j < NS; ++j) acc += P[k * M + j] * W->Y[j * BS_B + l];
            W->YN[k * BS_B + l] = acc;
        }
    }
    bs_vhold(W, W->YN, W->Y);
}

/* Wiener increments dW_k = sqrt(dt) z(key, step, i*NN + k) per lane */
static void bs_vdw(const bs_args *a, bs_work *W, int64_t step) {
    const double sdt = sqrt(a->dt);
    for (int l = 0; l < BS_B; ++l) {
        const int64_t i = bs_lane_i(W, l);
        for (int k = 0; k < NN; ++k)
            W->DW[k * BS_B + l] = sdt * bs_normal(a->key, (uint64_t)step, (uint64_t)(i * NN + k));
    }
}

/* out = y + f*h + sum_k G[s,k] dW_k  (h = dt; G, f already weighted by the caller) */
static BS_INLINE void bs_vsde_update(const double *Y, const double *F, const double *G,
                                     const double *DW, double h, double *out) {
    for (int s = 0; s < NS; ++s) {
#pragma omp simd
        for (int l = 0; l < BS_B; ++l) {
            double acc = F[s * BS_B + l] * h;
            for (int k = 0; k < NN; ++k)
                acc += G[(s * NN + k) * BS_B + l] * DW[k * BS_B + l];
            out[s * BS_B + l] = Y[s * BS_B + l] + acc;
        }
    }
}

static void bs_vstep_em(const bs_args *a, bs_work *W, int64_t step, double t) {
    bs_vrhs(a, W, t, W->Y, W->K[0]);
    bs_g_v(t, W->Y, W->P, W->G0);
    bs_vdw(a, W, step);
    bs_vsde_update(W->Y, W->K[0], W->G0, W->DW, a->dt, W->YN);
    bs_vhold(W, W->YN, W->Y);
}

static void bs_vstep_sheun(const bs_args *a, bs_work *W, int64_t step, double t) {
    const double dt = a->dt;
    double *F0 = W->K[0], *F1 = W->K[1], *FM = W->K[2];
    bs_vrhs(a, W, t, W->Y, F0);
    bs_g_v(t, W->Y, W->P, W->G0);
    bs_vdw(a, W, step);
    bs_vsde_update(W->Y, F0, W->G0, W->DW, dt, W->YT);
    bs_vhold(W, W->YT, W->Y);
    bs_vrhs(a, W, t + dt, W->YT, F1);
    bs_g_v(t + dt, W->YT, W->P, W->G1);
    /* 0.5*(f0 + f1)*dt and 0.5*(G0 + G1)*dW, as the scalar driver */
#pragma omp simd
    for (int j = 0; j < NS * BS_B; ++j) FM[j] = 0.5 * (F0[j] + F1[j]);
#pragma omp simd
    for (int j = 0; j < NS * NN * BS_B; ++j) W->G1[j] = 0.5 * (W->G0[j] + W->G1[j]);
    bs_vsde_update(W->Y, FM, W->G1, W->DW, dt, W->YN);
    bs_vhold(W, W->YN, W->Y);
}

static int64_t bs_rhs_per_step(const bs_args *a) {
    switch (a->method) {
    case 1: case 3: return 1;
    case 2: return 0;
    case 4: return 2;
    default: return a->s;
    }
}

static void bs_vstep(const bs_args *a, bs_work *W, int64_t st, double t) {
    switch (a->method) {
    case 1: bs_vstep_expeuler(a, W, t); break;
    case 2: bs_vstep_exact(a, W); break;
    case 3: bs_vstep_em(a, W, st, t); break;
    case 4: bs_vstep_sheun(a, W, st, t); break;
    default: bs_vstep_rk(a, W, t);
    }
}

/* spike time by linear interpolation of the crossing function over the step */
static double bs_lin_cross(const bs_args *a, int64_t i, double t, const double *y,
                           double tn, const double *yn, double *p) {
    if (!HAS_CROSSING) return tn;
    if (a->n_stim) bs_stim(a, i, t, t, p);
    const double h0 = bs_crossing(t, y, p);
    if (a->n_stim) bs_stim(a, i, tn, tn, p);
    const double h1 = bs_crossing(tn, yn, p);
    if (!(h1 != h0)) return tn;
    double ts = t + (tn - t) * h0 / (h0 - h1);
    return ts < t ? t : (ts > tn ? tn : ts);
}

static int bs_push(bs_bres *R, int lane, double ts) {
    if (R->ns == R->cap) {
        const int64_t cap = R->cap ? 2 * R->cap : 64;
        int64_t *ln = realloc(R->lane, cap * sizeof *ln);
        if (ln) R->lane = ln;
        double *tm = realloc(R->tim, cap * sizeof *tm);
        if (tm) R->tim = tm;
        if (!ln || !tm) return 1;
        R->cap = cap;
    }
    R->lane[R->ns] = lane; R->tim[R->ns] = ts; R->ns += 1;
    return 0;
}

static void bs_gather(const double *X, int l, double *x) {
    for (int k = 0; k < NS; ++k) x[k] = X[k * BS_B + l];
}

/* threshold, spike, reset and refractoriness of lane l at the end of the step; th is
   the threshold condition at the step end (bs_threshold_v, stimuli at tn) */
static int bs_vevents(const bs_args *a, bs_work *W, bs_bres *R, int l, int th, double t,
                      double tn) {
    const int spike = th && !W->th_prev[l] && !W->r[l];
    const int cond_ref = HAS_REF && !REF_BY_TIME && W->ref[l];
    W->th_prev[l] = th;
    if (!spike && !cond_ref) return BS_OK;          /* the common case: nothing to do */
    double y[NS], yn[NS];
    double *p = W->Pl[l];
    const int64_t i = bs_lane_i(W, l);
    bs_gather(W->YN, l, yn);
    if (spike) {
        bs_gather(W->Y, l, y);
        const double ts = bs_lin_cross(a, i, t, y, tn, yn, p);
        if (l < W->nl && bs_push(R, l, ts)) return BS_NOMEM;
        if (a->n_stim) bs_stim(a, i, tn, tn, p);
        bs_reset(tn, yn, p);
        for (int k = 0; k < NS; ++k) W->YN[k * BS_B + l] = yn[k];
        if (HAS_REF) { W->ref[l] = 1; W->ref_end[l] = ts + bs_reftime(p); }
        W->th_prev[l] = bs_threshold(tn, yn, p);
    }
    /* condition-based: checked at every step end, the spike step included */
    if (HAS_REF && !REF_BY_TIME && W->ref[l] && !bs_refcond(tn, yn, p)) W->ref[l] = 0;
    return BS_OK;
}

/* events of all lanes at the step end: TH is the threshold condition per lane (stimuli
   at tn), up whether a lane's condition became true (bs_vend) */
static int bs_vevents_all(const bs_args *a, bs_work *W, bs_bres *R, double t, double tn,
                          const int *TH, int up) {
    const int busy = up || (HAS_REF && !REF_BY_TIME);   /* condition-based: every lane */
    if (!busy) {                            /* no upward crossing: the common case */
        memcpy(W->th_prev, TH, BS_B * sizeof *TH);
        return BS_OK;
    }
    for (int l = 0; l < BS_B; ++l) {
        if (l < W->nl && W->dead[l]) continue;
        if (bs_vevents(a, W, R, l, TH[l], t, tn) != BS_OK) {
            R->status = BS_NOMEM; R->fail_i = W->i0 + l; R->fail_time = tn;
            return BS_NOMEM;
        }
    }
    return BS_OK;
}

/* non-finite lanes become dead (first bad state and time kept); returns live lanes.
   Called only when bs_vend found a non-finite entry. */
static int bs_vcheck(bs_work *W, bs_bres *R, double tn, int live) {
    for (int l = 0; l < W->nl; ++l) {
        if (W->dead[l]) continue;
        for (int k = 0; k < NS; ++k) {
            if (isfinite(W->YN[k * BS_B + l])) continue;
            W->dead[l] = 1; --live;
            if (R->status == BS_OK || W->i0 + l < R->fail_i) {
                R->status = BS_BLOWUP; R->fail_i = W->i0 + l; R->fail_var = k;
                R->fail_time = tn;
            }
            break;
        }
    }
    return live;
}

static void bs_vrecord(bs_args *a, const bs_work *W, int64_t k) {
    for (int l = 0; l < W->nl; ++l)
        for (int64_t r = 0; r < a->n_record; ++r)
            a->y_rec[(r * a->n + W->i0 + l) * a->n_rec + k] =
                W->Y[a->record_states[r] * BS_B + l];
}

/* spikes of the block: stable order by lane (then time, the push order) */
static int bs_sort_lanes(bs_bres *R, int64_t i0) {
    if (R->ns == 0) return BS_OK;
    int64_t *ln = malloc(R->ns * sizeof *ln);
    double *tm = malloc(R->ns * sizeof *tm);
    if (!ln || !tm) { free(ln); free(tm); return BS_NOMEM; }
    int64_t at = 0;
    for (int l = 0; l < BS_B; ++l)
        for (int64_t j = 0; j < R->ns; ++j)
            if (R->lane[j] == l) { ln[at] = i0 + l; tm[at] = R->tim[j]; ++at; }
    free(R->lane); free(R->tim);
    R->lane = ln; R->tim = tm; R->cap = R->ns;
    return BS_OK;
}

static void bs_block_run(bs_args *a, bs_work *W, bs_bres *R) {
    const int64_t N = a->n_steps, every = a->record_every;
    const double t0 = a->t0, dt = a->dt;
    double yl[NS];
    int live = W->nl;
    bs_vload(a, W);
    bs_vstim(a, W, t0, t0);
    for (int l = 0; l < BS_B; ++l) {
        W->ref[l] = 0; W->dead[l] = 0; W->ref_end[l] = -INFINITY; W->th_prev[l] = 0;
        bs_gather(W->Y, l, yl);
        if (HAS_THRESHOLD) W->th_prev[l] = bs_threshold(t0, yl, W->Pl[l]);
    }
    if (a->n_record) bs_vrecord(a, W, 0);
    for (int64_t st = 0; st < N && live > 0; ++st) {
        const double t = t0 + st * dt, tn = t0 + (st + 1) * dt;
        if (BS_STOPPED(a)) { R->status = BS_STOP; R->fail_i = W->i0; R->fail_time = t; return; }
        if (HAS_REF) {                  /* locals: the driver unit is built at -O1 */
            int any_r = 0;
            for (int l = 0; l < BS_B; ++l) {
                int r = 0;
                if (W->ref[l]) {
                    r = REF_BY_TIME ? (t + 0.5 * dt < W->ref_end[l]) : 1;
                    if (!r) W->ref[l] = 0;
                }
                W->r[l] = r;
                any_r |= r;
            }
            W->any_r = any_r;
        }
        bs_vstep(a, W, st, t);
        int TH[BS_B];
        if (HAS_THRESHOLD) bs_vstim(a, W, tn, tn);      /* the threshold sees tn's stimuli */
        const int flags = bs_vend(tn, W, TH);
        if (flags & 1) live = bs_vcheck(W, R, tn, live);
        if (HAS_THRESHOLD && bs_vevents_all(a, W, R, t, tn, TH, flags & 2) != BS_OK) return;
        memcpy(W->Y, W->YN, sizeof W->Y);
        if (a->n_record && (st + 1) % every == 0) bs_vrecord(a, W, (st + 1) / every);
    }
    if (R->status != BS_OK) return;
    const int64_t nrhs = N * bs_rhs_per_step(a);
    for (int l = 0; l < W->nl; ++l) {
        bs_gather(W->Y, l, yl);
        bs_store(a, W->i0 + l, yl, nrhs, N, 0, 0);
    }
    if (bs_sort_lanes(R, W->i0) != BS_OK) { R->status = BS_NOMEM; R->fail_i = W->i0; }
}

static void bs_block(bs_args *a, int64_t i0, int nl, bs_bres *R) {
    bs_work *W = calloc(1, sizeof *W);
    R->status = BS_OK;
    if (!W) { R->status = BS_NOMEM; R->fail_i = i0; R->fail_time = a->t0; return; }
    W->i0 = i0; W->nl = nl;
    bs_block_run(a, W, R);
    free(W);
}

/* merged spikes that did not fit: a->stash = (index, time) pairs */
static int bs_unstash(bs_args *a) {
    if (a->n_spikes + a->stash_n > a->spike_cap) {
        a->spike_need = a->n_spikes + a->stash_n;
        a->fail_instance = a->n;
        return BS_FULL;
    }
    for (int64_t j = 0; j < a->stash_n; ++j) {
        a->spike_index[a->n_spikes + j] = (int64_t)a->stash[2 * j];
        a->spike_time[a->n_spikes + j] = a->stash[2 * j + 1];
    }
    a->n_spikes += a->stash_n;
    free(a->stash); a->stash = NULL; a->stash_n = 0;
    return BS_OK;
}

/* block results in block order: the first failure, else the spikes */
static int bs_merge(bs_args *a, bs_bres *R, int64_t nb) {
    int64_t total = 0;
    for (int64_t b = 0; b < nb; ++b) {
        if (R[b].status != BS_OK)
            return bs_fail(a, R[b].fail_i, R[b].fail_time, R[b].fail_var, R[b].status);
        total += R[b].ns;
    }
    if (a->n_spikes + total <= a->spike_cap) {
        for (int64_t b = 0; b < nb; ++b) {
            memcpy(a->spike_index + a->n_spikes, R[b].lane, R[b].ns * sizeof(int64_t));
            memcpy(a->spike_time + a->n_spikes, R[b].tim, R[b].ns * sizeof(double));
            a->n_spikes += R[b].ns;
        }
        return BS_OK;
    }
    double *stash = malloc(2 * total * sizeof *stash);
    if (!stash) return bs_fail(a, a->i_start, a->t0, -1, BS_NOMEM);
    int64_t at = 0;
    for (int64_t b = 0; b < nb; ++b)
        for (int64_t j = 0; j < R[b].ns; ++j, ++at) {
            stash[2 * at] = (double)R[b].lane[j];
            stash[2 * at + 1] = R[b].tim[j];
        }
    a->stash = stash; a->stash_n = total;
    return bs_unstash(a);
}

int bs_run(bs_args *a) {
    if (a->stash) return bs_unstash(a);
    const int64_t i0 = a->i_start, nb = (a->n - i0 + BS_B - 1) / BS_B;
    if (nb <= 0) return BS_OK;
    bs_bres *R = calloc(nb, sizeof *R);
    if (!R) return bs_fail(a, i0, a->t0, -1, BS_NOMEM);
    int64_t first_bad = nb;
    const int nt = a->n_threads > 1 ? (int)a->n_threads : 1;
    (void)nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && nb > 1)
    for (int64_t b = 0; b < nb; ++b) {
        int64_t fb;
#pragma omp atomic read
        fb = first_bad;
        if (b > fb) { R[b].status = BS_OK; continue; }  /* an earlier block failed */
        const int64_t s = i0 + b * BS_B;
        bs_block(a, s, (int)(a->n - s < BS_B ? a->n - s : BS_B), &R[b]);
        if (R[b].status != BS_OK) {
#pragma omp critical(bs_first_bad)
            if (b < first_bad) first_bad = b;
        }
    }
    const int st = bs_merge(a, R, nb);
    for (int64_t b = 0; b < nb; ++b) { free(R[b].lane); free(R[b].tim); }
    free(R);
    return st;
}
"""

#: SIMD exp/expm1 of the lane functions (fixed family only).
_VMATH = r"""
/* ---------------------------------------------------------------------------------
   SIMD-friendly exp and expm1 (used by the lane functions bs_*_v).
   Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (ln2 split in a high part with
   trailing zeros, so k*LN2HI is exact); expm1(r) by its Taylor polynomial to degree 13
   (truncation < 2e-17 relative,
   evaluated by Estrin's scheme); 2^k from exponent bits.  Branch-free (selects, bit
   casts through memcpy), so loops calling them vectorize; IEEE operations only, so the
   result does not depend on the vector width.  Out-of-range arguments are clamped
   (overflow -> inf, underflow -> 0 / -1), NaN propagates.  Accuracy: <= 2 ulp (tested
   against libm in tests/codegen/test_c_vecmath.py).
   --------------------------------------------------------------------------------- */
#define BS_LOG2E 1.4426950408889634
#define BS_LN2HI 6.93147180369123816490e-01
#define BS_LN2LO 1.90821492927058770002e-10
#define BS_SHIFT 6755399441055744.0          /* 1.5*2^52: x + S - S rounds to integer */

static inline double bs_pow2i(double k) {   /* 2^k, k integer-valued in [-1022, 1024] */
    double d = k + 4503599627371519.0;      /* 2^52 + 1023: low bits hold k + 1023 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    u <<= 52;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* T(r) = sum_{k=0..11} r^k/(k+2)!, so that expm1(r) = r + r^2 T(r) and
   expm1(r)/r = 1 + r T(r) to degree 13 and 12, |r| <= ln2/2 (truncation < 2e-17
   relative); by Estrin's scheme: short dependency chains, so the vectorized loops are
   not latency bound (30% faster than Horner) */
static inline double bs_expm1_tail(double r, double r2) {
    const double r4 = r2 * r2, r8 = r4 * r4;
    const double p2 = 1.0 / 2 + r * (1.0 / 6), p4 = 1.0 / 24 + r * (1.0 / 120),
        p6 = 1.0 / 720 + r * (1.0 / 5040), p8 = 1.0 / 40320 + r * (1.0 / 362880),
        p10 = 1.0 / 3628800 + r * (1.0 / 39916800),
        p12 = 1.0 / 479001600 + r * (1.0 / 6227020800.0);
    const double q2 = p2 + r2 * p4, q6 = p6 + r2 * p8, q10 = p10 + r2 * p12;
    return (q2 + r4 * q6) + r8 * q10;
}

static inline double bs_expm1_poly(double r) {   /* expm1(r), |r| <= ln2/2 */
    const double r2 = r * r;
    return r + r2 * bs_expm1_tail(r, r2);
}

static inline double bs_vexp(double x) {
    const double xc = x > 709.9 ? 709.9 : (x < -745.5 ? -745.5 : x);
    const double k = (xc * BS_LOG2E + BS_SHIFT) - BS_SHIFT;
    const double r = (xc - k * BS_LN2HI) - k * BS_LN2LO;
    const double k1 = (k * 0.5 + BS_SHIFT) - BS_SHIFT, k2 = k - k1;
    return ((1.0 + bs_expm1_poly(r)) * bs_pow2i(k1)) * bs_pow2i(k2);
}

static inline double bs_vexpm1(double x) {
    /* 2^k (1 + q) - 1 = 2 (h q + (h - 1/2)), h = 2^(k-1); exact q for k = 0 */
    const double xc = x > 709.9 ? 709.9 : (x < -45.0 ? -45.0 : x);
    const double k = (xc * BS_LOG2E + BS_SHIFT) - BS_SHIFT;
    const double r = (xc - k * BS_LN2HI) - k * BS_LN2LO;
    const double h = bs_pow2i(k - 1.0);
    return 2.0 * (h * bs_expm1_poly(r) + (h - 0.5));
}

static inline double bs_vxexpm1(double x) {  /* x/(exp(x) - 1), as bs_xexpm1 */
    const double r = x / bs_vexpm1(x);
    return fabs(x) < 1e-05 ? 1.0 - x * (0.5 - x / 12.0) : r;
}

/* phi1(x) = expm1(x)/x for |x| <= ln2/2 by its Taylor polynomial to degree 12
   (truncation < 1.3e-17 relative), as 1 + x T(x) (the rounding errors of T are scaled
   by |x T| / phi1 < 0.16): the exponential-Euler factor expm1(A dt)/A = dt phi1(A dt)
   without range reduction and without a division */
#define BS_PHI1_X 0.34657359027997264      /* ln2/2 */
static inline double bs_phi1_poly(double x) {
    return 1.0 + x * bs_expm1_tail(x, x * x);
}

/* expm1(A dt)/A (dt at A = 0): dt phi1(A dt) for |A dt| <= ln2/2, else by bs_vexpm1 */
static inline double bs_vee_h(double A, double dt) {
    const double x = A * dt;
    const double hs = dt * bs_phi1_poly(x);
    const double hl = bs_vexpm1(x) / A;
    return fabs(x) <= BS_PHI1_X ? hs : hl;
}

/* one exponential-Euler update y + (A y + B) expm1(A dt)/A */
static inline double bs_vee(double y, double A, double B, double dt) {
    return y + (A * y + B) * bs_vee_h(A, dt);
}

"""

# --------------------------------------------------------------------------------------
# shared by adaptive and Rosenbrock: dense output, event location, recording
# --------------------------------------------------------------------------------------
_DENSE_EVENTS = r"""
/* y(t + theta*h) = y + hk * sum_s K_s * sum_j dense[s,j] theta^(j+1) */
static void bs_dense_eval(const bs_args *a, int64_t ns, double hk, const double *y,
                          double K[][NS], double theta, double *out) {
    const int64_t Q = a->q;
    double w[BS_SMAX];
    for (int64_t s = 0; s < ns; ++s) {
        double acc = 0.0, th = theta;
        for (int64_t j = 0; j < Q; ++j) { acc += a->dense[s * Q + j] * th; th *= theta; }
        w[s] = acc;
    }
    for (int k = 0; k < NS; ++k) {
        double acc = 0.0;
        for (int64_t s = 0; s < ns; ++s) acc += w[s] * K[s][k];
        out[k] = y[k] + hk * acc;
    }
}

typedef struct {            /* one accepted step, as the event code sees it */
    const bs_args *a; int64_t i; double t, h, hk, tn; int64_t ns;
    const double *y, *yn; double (*K)[NS]; double *p; int r; int64_t *nrhs;
} bs_step;

/* event state of one instance (wb, wunk: bs_wstage, computed at the first use) */
typedef struct {
    int ref, th_prev; double ref_end;
    int wb_ok; double wb[BS_SMAX], wunk, ha[BS_SMAX], hb[BS_SMAX], hc[BS_SMAX];
} bs_ev;

static double bs_event_fn(const bs_step *S, double theta, int boolean) {
    double yt[NS];
    const double tt = S->t + theta * S->h;
    bs_dense_eval(S->a, S->ns, S->hk, S->y, S->K, theta, yt);
    if (S->a->n_stim) bs_stim(S->a, S->i, tt, S->t, S->p);
    return boolean ? (double)bs_threshold(tt, yt, S->p) : bs_crossing(tt, yt, S->p);
}

/* Every upward crossing inside an accepted step (biosnn.solvers.events, "Crossings
   inside a step"; the NumPy driver runs the same algorithm). */
#define BS_QMAX 8            /* largest degree of a dense output + 1 */
#define BS_MAXDEPTH 50       /* bisection depth of bs_first_up */
#define BS_NSAMP 8           /* samples per step for thresholds that are not affine */
#define BS_MAXSP 16          /* spikes per step (a polynomial of degree 7 has <= 4) */
#if defined(__GNUC__)        /* the rare paths stay out of the per-step code */
#define BS_COLD __attribute__((noinline, cold))
#else
#define BS_COLD
#endif

/* Illinois on the crossing function in [lo, hi] (theta), flo <= 0 < fhi, to
   |dt| <= 1e-12*max(1, |t|) */
static double bs_illinois(const bs_step *S, double lo, double hi, double flo, double fhi) {
    const double tol = 1e-12 * fmax(1.0, fabs(S->t + S->h)) / S->h;
    int side = 0;
    for (int it = 0; it < 200 && hi - lo > tol; ++it) {
        double m = hi - fhi * (hi - lo) / (fhi - flo);
        if (!(m > lo && m < hi)) m = 0.5 * (lo + hi);
        const double fm = bs_event_fn(S, m, 0);
        if (fm > 0.0) { hi = m; fhi = fm; if (side == 1) flo *= 0.5; side = 1; }
        else { lo = m; flo = fm; if (side == -1) fhi *= 0.5; side = -1; }
    }
    return hi;
}

/* bisection of the boolean condition in [lo, hi] (false at lo, true at hi) */
static double bs_bisect(const bs_step *S, double lo, double hi) {
    const double tol = 1e-12 * fmax(1.0, fabs(S->t + S->h)) / S->h;
    for (int it = 0; it < 200 && hi - lo > tol; ++it) {
        const double m = 0.5 * (lo + hi);
        if (bs_event_fn(S, m, 1) != 0.0) hi = m; else lo = m;
    }
    return hi;
}

/* Bernstein coefficients on [0, 1] of sum_j m[j] theta^j (degree q) */
static void bs_bernstein(int q, const double *m, double *c) {
    for (int i = 0; i <= q; ++i) {
        double acc = 0.0, r = 1.0;              /* r = C(i, j)/C(q, j) */
        for (int j = 0; j <= i; ++j) {
            acc = acc + r * m[j];
            if (j < i) r = r * (i - j) / (q - j);
        }
        c[i] = acc;
    }
}

/* de Casteljau at tau: coefficients on [0, tau] (left) and [tau, 1] (right), either NULL */
static void bs_split(int q, const double *c, double tau, double *left, double *right) {
    double w[BS_QMAX + 1];
    memcpy(w, c, (size_t)(q + 1) * sizeof(double));
    if (left) left[0] = w[0];
    if (right) right[q] = w[q];
    for (int r = 1; r <= q; ++r) {
        for (int i = 0; i <= q - r; ++i) w[i] = (1.0 - tau) * w[i] + tau * w[i + 1];
        if (left) left[r] = w[0];
        if (right) right[q - r] = w[q - r];
    }
}

/* bracket [*ra, *rb] of the first upward crossing after lo of the polynomial with
   Bernstein coefficients c on [lo, hi]: left-first bisection with Descartes' rule of
   signs (events.first_upcrossing); 0 if there is none */
static int bs_first_up(int q, const double *c, double lo, double hi, int armed, double tol,
                       double *ra, double *rb) {
    double sc[BS_MAXDEPTH + 2][BS_QMAX + 1], sa[BS_MAXDEPTH + 2], sb[BS_MAXDEPTH + 2];
    int sd[BS_MAXDEPTH + 2], top = 1;
    memcpy(sc[0], c, (size_t)(q + 1) * sizeof(double));
    sa[0] = lo; sb[0] = hi; sd[0] = 0;
    while (top > 0) {
        --top;
        double w[BS_QMAX + 1];
        memcpy(w, sc[top], (size_t)(q + 1) * sizeof(double));
        const double a = sa[top], b = sb[top];
        const int depth = sd[top];
        int changes = 0;
        for (int i = 0; i < q; ++i) changes += (w[i] > 0.0) != (w[i + 1] > 0.0);
        const int p0 = w[0] > 0.0, pq = w[q] > 0.0;
        if (p0 && armed) { *ra = a; *rb = a; return 1; }   /* only at lo */
        if (changes == 0) {
            if (!p0) armed = 1;
            continue;
        }
        if (changes == 1) {
            if (!p0) { *ra = a; *rb = b; return 1; }
            armed = 1;
            continue;
        }
        if (b - a <= tol || depth >= BS_MAXDEPTH) {
            if (!p0) armed = 1;
            if (pq && armed) { *ra = a; *rb = b; return 1; }
            if (!pq) armed = 1;
            continue;
        }
        const double m = 0.5 * (a + b);
        bs_split(q, w, 0.5, sc[top + 1], sc[top]);       /* left on top: popped first */
        sa[top] = m; sb[top] = b; sd[top] = depth + 1;
        sa[top + 1] = a; sb[top + 1] = m; sd[top + 1] = depth + 1;
        top += 2;
    }
    return 0;
}

/* crossing along the dense output from stages 0..n-1 (slopes sig): Bernstein
   coefficients, end coefficients the crossing at the two end states */
static void bs_cross_bern(const bs_args *a, const double *sig, int64_t n, double g0,
                          double g1, double *c) {
    const int q = (int)a->q;
    double mono[BS_QMAX + 1];
    mono[0] = g0;
    for (int j = 0; j < q; ++j) {
        double acc = 0.0;
        for (int64_t s = 0; s < n; ++s) acc += a->dense[s * q + j] * sig[s];
        mono[j + 1] = acc;
    }
    bs_bernstein(q, mono, c);
    c[0] = g0; c[q] = g1;
}

/* per stage, the largest |Bernstein coefficient| of its dense weight (a bound of
   |w_s(theta)| on [0, 1]), their sum over the stages after a->s, and the weights of the
   cubic Hermite slope at c_s (H'(c_s) = ha*dg + hb*d0 + hc*d1); once per instance */
static void bs_wstage(const bs_args *a, bs_ev *E) {
    const int q = (int)a->q;
    double mono[BS_QMAX + 1], c[BS_QMAX + 1];
    E->wunk = 0.0;
    for (int64_t s = 0; s < a->s_total; ++s) {
        mono[0] = 0.0;
        for (int j = 0; j < q; ++j) mono[j + 1] = a->dense[s * q + j];
        bs_bernstein(q, mono, c);
        double big = 0.0;
        for (int i = 0; i <= q; ++i) big = fmax(big, fabs(c[i]));
        E->wb[s] = big;
        if (s >= a->s) E->wunk += big;
        const double x = a->c[s];            /* Hermite slope weights at c_s */
        E->ha[s] = 6.0 * x * (1.0 - x);
        E->hb[s] = (1.0 - x) * (1.0 - 3.0 * x);
        E->hc[s] = x * (3.0 * x - 2.0);
    }
    E->wb_ok = 1;
}

/* end of the refractory period of a spike at ts in a step without reset (-inf: none
   that blocks a later crossing of the same step) */
static double bs_until(const bs_args *a, const bs_step *S, double ts) {
    if (!(HAS_REF && REF_BY_TIME)) return -INFINITY;
    if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
    return ts + bs_reftime(S->p);
}

static double bs_theta_time(const bs_step *S, double th) {
    return th < 1.0 ? S->t + th * S->h : S->tn;
}

/* the exact search on the Bernstein coefficients c of a step (see bs_affine_spikes) */
static BS_COLD int bs_poly_search(const bs_args *a, bs_step *S, int armed, const double *c,
                                  double *out) {
    const int q = (int)a->q;
    const double tol = 1e-12 * fmax(1.0, fabs(S->tn)) / S->h;
    double cur[BS_QMAX + 1], lo = 0.0, until = -INFINITY;
    memcpy(cur, c, (size_t)(q + 1) * sizeof(double));
    int n = 0;
    while (n < BS_MAXSP) {
        double ra, rb, th;
        if (!bs_first_up(q, cur, lo, 1.0, armed, tol, &ra, &rb)) break;
        if (ra == rb) th = ra;
        else {
            double flo = bs_event_fn(S, ra, 0), fhi = bs_event_fn(S, rb, 0);
            if (flo > 0.0) flo = 0.0;
            if (!(fhi > 0.0)) fhi = DBL_MIN;
            th = bs_illinois(S, ra, rb, flo, fhi);
        }
        const double ts = bs_theta_time(S, th);
        if (ts >= until) {
            out[n++] = th;
            if (HAS_RESET || (HAS_REF && !REF_BY_TIME)) break;
            until = bs_until(a, S, ts);
        }
        if (rb >= 1.0) break;
        bs_split(q, c, rb, NULL, cur);
        lo = rb; armed = 0;
    }
    return n;
}

/* affine crossing: exact search on the polynomial P after a screen (see
   biosnn.solvers.events): without extra stages |P - g0| <= sum_s wb_s |sig_s|; DOP853,
   before its extra stages, P - H = sum_s w_s e_s with H the cubic Hermite interpolant
   of the crossing and e_s = sig_s - H'(c_s), the unknown |e_s| taken <= 2 max known */
static int bs_affine_spikes(const bs_args *a, bs_step *S, bs_ev *E, int armed,
                            int (*dense_ready)(bs_step *), double *out) {
    const int q = (int)a->q;
    const int64_t known = a->s, total = a->s_total;
    double zero[NS] = {0.0}, sig[BS_SMAX], c[BS_QMAX + 1];
    if (!E->wb_ok) bs_wstage(a, E);
    if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
    const double g0 = bs_crossing(S->t, S->y, S->p), gz = bs_crossing(S->t, zero, S->p);
    if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
    const double g1 = bs_crossing(S->tn, S->yn, S->p);
    if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
    const int up = g1 > 0.0;
    double pmax, pmin, dev = 0.0;
    if (known == total) {
        for (int64_t s = 0; s < known; ++s) {
            sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
            dev += E->wb[s] * fabs(sig[s]);
        }
        pmax = g0 + dev; pmin = g0 - dev;
    } else {
        const int64_t last = known - 1;
        sig[0] = S->hk * (bs_crossing(S->t, S->K[0], S->p) - gz);
        sig[last] = S->hk * (bs_crossing(S->t, S->K[last], S->p) - gz);
        const double d0 = sig[0], d1 = sig[last], dg = g1 - g0;
        double r = 0.0;
        for (int64_t s = 0; s < known; ++s) {
            if (s > 0 && s < last) sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
            double e = sig[s] - (E->ha[s] * dg + E->hb[s] * d0 + E->hc[s] * d1);
            e = e < 0.0 ? -e : e;
            dev += E->wb[s] * e;
            if (e > r) r = e;
        }
        dev += 2.0 * r * E->wunk;
        const double b1 = g0 + d0 / 3.0, b2 = g1 - d1 / 3.0;
        double hmax = g0 > b1 ? g0 : b1, hmin = g0 < b1 ? g0 : b1;
        if (b2 > hmax) hmax = b2;
        if (b2 < hmin) hmin = b2;
        if (g1 > hmax) hmax = g1;
        if (g1 < hmin) hmin = g1;
        pmax = hmax + dev; pmin = hmin - dev;
    }
    if ((pmax <= 0.0 && !up) || (!armed && pmin > 0.0 && up)) return 0;
    if (known < total) {                     /* the extra stages of the interpolant */
        dense_ready(S);
        if (a->n_stim) bs_stim(a, S->i, S->t, S->t, S->p);
        for (int64_t s = known; s < total; ++s)
            sig[s] = S->hk * (bs_crossing(S->t, S->K[s], S->p) - gz);
    }
    bs_cross_bern(a, sig, total, g0, g1, c);
    double cmax = c[0], cmin = c[0];
    for (int i = 1; i <= q; ++i) { cmax = fmax(cmax, c[i]); cmin = fmin(cmin, c[i]); }
    if (!(cmax > 0.0) || !(armed || cmin <= 0.0)) return 0;
    dense_ready(S);
    return bs_poly_search(a, S, armed, c, out);
}

/* other thresholds: samples at theta = i/BS_NSAMP, located between two samples */
static BS_COLD int bs_sampled_spikes(const bs_args *a, bs_step *S, int armed,
                             int (*dense_ready)(bs_step *), double *out) {
    double v[BS_NSAMP + 1], yt[NS];
    dense_ready(S);
    for (int i = 0; i <= BS_NSAMP; ++i) {
        double tt;
        const double *yy;
        if (i == 0) { tt = S->t; yy = S->y; }
        else if (i == BS_NSAMP) { tt = S->tn; yy = S->yn; }
        else {
            const double th = (double)i / BS_NSAMP;
            tt = S->t + th * S->h;
            bs_dense_eval(a, S->ns, S->hk, S->y, S->K, th, yt);
            yy = yt;
        }
        if (a->n_stim) bs_stim(a, S->i, tt, S->t, S->p);
        v[i] = HAS_CROSSING ? bs_crossing(tt, yy, S->p)
                            : (bs_threshold(tt, yy, S->p) ? 1.0 : -1.0);
    }
    int n = 0;
    double until = -INFINITY;
    for (int i = 0; i <= BS_NSAMP && n < BS_MAXSP; ++i) {
        if (!(v[i] > 0.0)) { armed = 1; continue; }
        if (!armed) continue;
        armed = 0;
        double th = 0.0;
        if (i > 0) {
            const double lo = (double)(i - 1) / BS_NSAMP;
            const double hi = i == BS_NSAMP ? 1.0 : (double)i / BS_NSAMP;
            th = HAS_CROSSING ? bs_illinois(S, lo, hi, v[i - 1] > 0.0 ? 0.0 : v[i - 1], v[i])
                              : bs_bisect(S, lo, hi);
        }
        const double ts = bs_theta_time(S, th);
        if (ts < until) continue;
        out[n++] = th;
        if (HAS_RESET || (HAS_REF && !REF_BY_TIME)) break;
        until = bs_until(a, S, ts);
    }
    return n;
}

/* spikes (thetas, in order) of the accepted step S of a non-refractory instance */
static int bs_find_spikes(const bs_args *a, bs_step *S, bs_ev *E,
                          int (*dense_ready)(bs_step *), double *out) {
    const int armed = !E->th_prev;
    int affine = CROSS_AFFINE;
    if (affine && a->n_stim) {               /* a linear stimulus on one of its params */
        static const int par[NPA] = CROSS_PARAMS;
        for (int64_t s = 0; s < a->n_stim; ++s)
            if (a->stim_kind[s] != 0 && par[a->stim_param[s]]) affine = 0;
    }
    if (affine) return bs_affine_spikes(a, S, E, armed, dense_ready, out);
    return bs_sampled_spikes(a, S, armed, dense_ready, out);
}

/* record every t0 + k*record_dt <= tend (+ tolerance) of this step from the interpolant */
static int64_t bs_record_step(bs_args *a, const bs_step *S, int64_t kr, double tend) {
    const double tol = 1e-12 * fmax(1.0, fabs(tend));
    double yt[NS];
    while (kr < a->n_rec) {
        const double tr = a->t0 + kr * a->record_dt;
        if (tr > tend + tol) break;
        if (tr >= S->tn) bs_record(a, S->i, kr, S->yn);
        else {
            const double theta = (tr - S->t) / S->h;
            bs_dense_eval(a, S->ns, S->hk, S->y, S->K, theta > 0.0 ? theta : 0.0, yt);
            bs_record(a, S->i, kr, yt);
        }
        ++kr;
    }
    return kr;
}


/* refractoriness at the end (te, ye) of a step that started at t_s0: time-based ends at
   ref_end, condition-based while the condition holds. Returns 1 if it just ended. */
static int bs_ref_update(const bs_args *a, int64_t i, bs_ev *E, double te, double t_s0,
                         const double *ye, double *p) {
    if (!HAS_REF || !E->ref) return 0;
    int holds;
    if (REF_BY_TIME) holds = te < E->ref_end - 1e-12 * fmax(1.0, fabs(te));
    else {
        if (a->n_stim) bs_stim(a, i, te, t_s0, p);
        holds = bs_refcond(te, ye, p);
    }
    if (!holds) { E->ref = 0; return 1; }
    return 0;
}

/* events and records of the accepted step S; advances (*t, y). With reset statements a
   spike ends the step at the spike time (reset state, restart); without, it continues. */
static int bs_accept(bs_args *a, bs_step *S, bs_ev *E, int64_t *kr, double *t, double *y,
                     int *restart, int (*dense_ready)(bs_step *)) {
    int spiked = 0, th = 0, nsp = 0;
    double theta = 1.0, te = S->tn, ye[NS], sp[BS_MAXSP];
    memcpy(ye, S->yn, sizeof ye);
    if (HAS_THRESHOLD) {
        if (!E->ref) nsp = bs_find_spikes(a, S, E, dense_ready, sp);
        if (a->n_stim) bs_stim(a, S->i, S->tn, S->t, S->p);
        th = bs_threshold(S->tn, S->yn, S->p);
        if (nsp) { theta = sp[0]; spiked = 1; }
    }
    const double ts = theta < 1.0 ? S->t + theta * S->h : S->tn;
    if (spiked && HAS_RESET && theta < 1.0) {
        te = ts;
        bs_dense_eval(a, S->ns, S->hk, S->y, S->K, theta, ye);
    }
    if (*kr < a->n_rec && a->t0 + *kr * a->record_dt <= te + 1e-12 * fmax(1.0, fabs(te))) {
        dense_ready(S);
        *kr = bs_record_step(a, S, *kr, te);
    }
    if (spiked) {
        for (int k = 0; k < nsp; ++k)
            if (bs_spike(a, S->i, bs_theta_time(S, sp[k]))) return BS_FULL;
        if (a->n_stim) bs_stim(a, S->i, te, S->t, S->p);
        if (HAS_RESET) {
            bs_reset(te, ye, S->p);
            th = bs_threshold(te, ye, S->p);
            *restart = 1;
        }
        if (HAS_REF) {
            E->ref = 1;
            E->ref_end = bs_theta_time(S, sp[nsp - 1]) + bs_reftime(S->p);
            *restart = 1;
        }
    }
    if (HAS_THRESHOLD) E->th_prev = th;
    if (bs_ref_update(a, S->i, E, te, S->t, ye, S->p)) *restart = 1;
    memcpy(y, ye, sizeof ye);
    *t = te;
    return BS_OK;
}

/* next stop: t1, the next stimulus breakpoint, the end of refractoriness */
static double bs_next_stop(const bs_args *a, int64_t *jb, double t, const bs_ev *E) {
    double stop = a->t1;
    while (*jb < a->n_bp && a->bp[*jb] <= t + 1e-12 * fmax(1.0, fabs(t))) ++*jb;
    if (*jb < a->n_bp && a->bp[*jb] < stop) stop = a->bp[*jb];
    if (E->ref && REF_BY_TIME && E->ref_end > t + 1e-12 * fmax(1.0, fabs(t))
        && E->ref_end < stop) stop = E->ref_end;
    return stop;
}

/* PI step-size factor after an accepted step: safety * en^-beta1 * en_prev^beta2 as one
   exp of logs; *log_prev keeps log(max(en_prev, 1e-4)) (log(1) = 0 at the start), so a
   step costs one log and one exp instead of two pow */
static double bs_pi(const bs_args *a, double en, double *log_prev, int rejected_before) {
    const double le = en > 0.0 ? log(en) : -INFINITY;
    double fac = en > 0.0 ? a->safety * exp(a->beta2 * *log_prev - a->beta1 * le)
                          : a->fac_max;
    fac = fmin(a->fac_max, fmax(a->fac_min, fac));
    if (rejected_before) fac = fmin(fac, 1.0);
    *log_prev = fmax(le, -9.210340371976182);     /* log(1e-4) */
    return fac;
}

static double bs_reject_factor(const bs_args *a, double en) {
    if (!(en == en)) return a->fac_min;
    return fmin(1.0, fmax(a->fac_min, a->safety * pow(en, -a->expo_rej)));
}

/* Hairer's initial step (Hairer, Norsett & Wanner I, II.4); f0 receives f(t, y) */
static double bs_initial_step(const bs_args *a, int64_t i, double t, double span,
                              const double *y, double *p, double *f0, int64_t *nrhs) {
    double y1[NS], f1[NS], d0 = 0.0, d1 = 0.0, d2 = 0.0;
    bs_rhs(a, i, t, t, y, p, 0, f0);
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fabs(y[k]);
        d0 += (y[k] / sc) * (y[k] / sc);
        d1 += (f0[k] / sc) * (f0[k] / sc);
    }
    d0 = sqrt(d0 / NS); d1 = sqrt(d1 / NS);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, span);
    for (int k = 0; k < NS; ++k) y1[k] = y[k] + h0 * f0[k];
    bs_rhs(a, i, t + h0, t, y1, p, 0, f1);
    *nrhs += 2;
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fabs(y[k]);
        d2 += ((f1[k] - f0[k]) / sc) * ((f1[k] - f0[k]) / sc);
    }
    d2 = sqrt(d2 / NS) / h0;
    const double dm = fmax(d1, d2);
    const double h1 = dm <= 1e-15 ? fmax(1e-6, 1e-3 * h0) : pow(0.01 / dm, a->expo_rej);
    return fmin(fmin(100.0 * h0, isfinite(h1) ? h1 : 1e-6), span);
}
"""

# --------------------------------------------------------------------------------------
# adaptive embedded RK
# --------------------------------------------------------------------------------------
_ADAPTIVE = r"""
/* yt = y + h * sum_{l<s} coef[l] K[l]: the stage loop outside, the states inside (NS is a
   constant, so that loop unrolls); per state the same additions in the same order as
   a sum over l */
static BS_INLINE void bs_stage(const double *y, double h, const double *coef, int64_t s,
                               double K[][NS], double *yt) {
    double acc[NS] = {0.0};
    for (int64_t l = 0; l < s; ++l) {
        const double c = coef[l];
        for (int k = 0; k < NS; ++k) acc[k] += c * K[l][k];
    }
    for (int k = 0; k < NS; ++k) yt[k] = y[k] + h * acc[k];
}

/* extra (dense-output) stages of an accepted step, computed once and only if needed */
static int bs_rk_dense(bs_step *S) {
    const bs_args *a = S->a;
    const int64_t S0 = a->s, ST = a->s_total;
    if (S->ns >= ST) return 0;
    double yt[NS];
    for (int64_t s = S0; s < ST; ++s) {
        bs_stage(S->y, S->h, a->A + s * ST, s, S->K, yt);
        bs_rhs(a, S->i, S->t + a->c[s] * S->h, S->t, yt, S->p, S->r, S->K[s]);
    }
    *S->nrhs += ST - S0;
    S->ns = ST;
    return 0;
}

/* one embedded RK step of size h from (t, y): stages 0..s-1, yn, error norm */
static double bs_rk_try(const bs_args *a, int64_t i, double t, double h, const double *y,
                        double *p, int r, double K[][NS], double *yn) {
    const int64_t S0 = a->s, ST = a->s_total;
    double yt[NS], e[NS], el[NS], sb[NS] = {0.0}, se[NS] = {0.0}, sl[NS] = {0.0};
    for (int64_t s = 1; s < S0; ++s) {
        bs_stage(y, h, a->A + s * ST, s, K, yt);
        bs_rhs(a, i, t + a->c[s] * h, t, yt, p, r, K[s]);
    }
    for (int64_t s = 0; s < S0; ++s) {          /* per state: the order of a sum over s */
        const double cb = a->b[s], ce = a->b_err[s];
        for (int k = 0; k < NS; ++k) { sb[k] += cb * K[s][k]; se[k] += ce * K[s][k]; }
    }
    if (a->has_low)
        for (int64_t s = 0; s < S0; ++s) {
            const double cl = a->b_err_low[s];
            for (int k = 0; k < NS; ++k) sl[k] += cl * K[s][k];
        }
    for (int k = 0; k < NS; ++k) { yn[k] = y[k] + h * sb[k]; e[k] = h * se[k]; el[k] = h * sl[k]; }
    if (!a->has_low) return bs_rms(e, y, yn, a->rtol, a->atol);
    double e5 = 0.0, e3 = 0.0;
    for (int k = 0; k < NS; ++k) {
        const double sc = a->atol + a->rtol * fmax(fabs(y[k]), fabs(yn[k]));
        e5 += (e[k] / sc) * (e[k] / sc);
        e3 += (el[k] / sc) * (el[k] / sc);
    }
    const double den = e5 + 0.01 * e3;
    return den > 0.0 ? e5 / sqrt(NS * den) : (e5 == e5 ? 0.0 : NAN);
}

static int bs_instance(bs_args *a, int64_t i) {
    double y[NS], yn[NS], p[NPA], K[BS_SMAX][NS];
    const int64_t S0 = a->s;
    double t = a->t0, h, log_prev = 0.0;
    int64_t nrhs = 0, nacc = 0, nrej = 0, kr = 0, jb = 0, bad = 0;
    int have_k0 = 0, rej = 0;
    bs_ev E = {0, 0, -INFINITY};
    bs_load(a, i, y, p);
    memcpy(yn, y, sizeof yn);
    if (a->n_stim) bs_stim(a, i, t, t, p);
    if (HAS_THRESHOLD) E.th_prev = bs_threshold(t, y, p);
    if (a->n_record) bs_record(a, i, 0, y);
    kr = a->n_record ? 1 : a->n_rec;
    if (a->dt > 0.0) h = fmin(a->dt, a->t1 - a->t0);
    else { h = bs_initial_step(a, i, t, bs_next_stop(a, &jb, t, &E) - t, y, p, K[0], &nrhs); have_k0 = 1; }
    while (t < a->t1) {
        if (nacc + nrej >= a->max_steps) return bs_fail(a, i, t, -1, BS_MAXSTEPS);
        if (BS_STOPPED(a)) return bs_fail(a, i, t, -1, BS_STOP);
        const double stop = bs_next_stop(a, &jb, t, &E);
        const int hit = h >= (stop - t) * (1.0 - 4.0 * DBL_EPSILON);
        const double hs = hit ? stop - t : h;
        if (!(hs >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
            if (!hit) return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            t = stop; have_k0 = 0;            /* a sliver below resolution: step onto it */
            bs_ref_update(a, i, &E, t, t, y, p);
            continue;
        }
        if (!have_k0) { bs_rhs(a, i, t, t, y, p, E.ref, K[0]); ++nrhs; have_k0 = 1; }
        const double en = bs_rk_try(a, i, t, hs, y, p, E.ref, K, yn);
        nrhs += S0 - 1;
        if (!(en <= 1.0)) {
            ++nrej; rej = 1;
            h = hs * bs_reject_factor(a, en);
            if (!(h >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
                if (!bs_finite(yn, &bad)) return bs_fail(a, i, t + hs, bad, BS_BLOWUP);
                return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            }
            continue;
        }
        ++nacc;
        const double tn = hit ? stop : t + hs;
        if (!bs_finite(yn, &bad)) return bs_fail(a, i, tn, bad, BS_BLOWUP);
        bs_step St = {a, i, t, hs, hs, tn, S0, y, yn, K, p, E.ref, &nrhs};
        int restart = 0;
        const int rej_before = rej;
        const int st = bs_accept(a, &St, &E, &kr, &t, y, &restart, bs_rk_dense);
        rej = 0;
        if (st != BS_OK) return st;
        const int64_t npt = a->fsal - 1;
        if (!restart && !hit && a->fsal && npt < St.ns) {
            memcpy(K[0], K[npt], sizeof K[0]);
            have_k0 = 1;
        } else have_k0 = 0;
        h = hs * bs_pi(a, en, &log_prev, rej_before);
    }
    while (kr < a->n_rec) bs_record(a, i, kr++, y);
    bs_store(a, i, y, nrhs, nacc, nrej, 0);
    return BS_OK;
}
"""

# --------------------------------------------------------------------------------------
# Rosenbrock
# --------------------------------------------------------------------------------------
_RODAS = r"""
/* in-place LU with partial pivoting of the NS x NS matrix M; 0 if singular */
static int bs_lu(double *M, int *piv) {
    for (int k = 0; k < NS; ++k) {
        int m = k;
        for (int r = k + 1; r < NS; ++r) if (fabs(M[r * NS + k]) > fabs(M[m * NS + k])) m = r;
        piv[k] = m;
        if (M[m * NS + k] == 0.0 || !isfinite(M[m * NS + k])) return 0;
        if (m != k) for (int c = 0; c < NS; ++c) {
            const double tmp = M[k * NS + c]; M[k * NS + c] = M[m * NS + c]; M[m * NS + c] = tmp;
        }
        const double inv = 1.0 / M[k * NS + k];
        for (int r = k + 1; r < NS; ++r) {
            const double f = (M[r * NS + k] *= inv);
            if (f != 0.0) for (int c = k + 1; c < NS; ++c) M[r * NS + c] -= f * M[k * NS + c];
        }
    }
    return 1;
}

static void bs_lusolve(const double *M, const int *piv, double *x) {
    for (int k = 0; k < NS; ++k) {
        if (piv[k] != k) { const double tmp = x[k]; x[k] = x[piv[k]]; x[piv[k]] = tmp; }
        for (int r = k + 1; r < NS; ++r) x[r] -= M[r * NS + k] * x[k];
    }
    for (int k = NS - 1; k >= 0; --k) {
        double acc = x[k];
        for (int c = k + 1; c < NS; ++c) acc -= M[k * NS + c] * x[c];
        x[k] = acc / M[k * NS + k];
    }
}

static int bs_rodas_dense(bs_step *S) { (void)S; return 0; }

/* Jacobian and df/dt at (t, y), rows of held states zeroed while refractory */
static void bs_jacobian(const bs_args *a, int64_t i, double t, const double *y, double *p,
                        int r, double *J, double *ft) {
    if (a->n_stim) bs_stim(a, i, t, t, p);
    bs_jac(t, y, p, J);
    bs_dfdt(t, y, p, ft);
    if (r) for (int k = 0; k < NS; ++k) if (bs_held[k]) {
        ft[k] = 0.0;
        for (int c = 0; c < NS; ++c) J[k * NS + c] = 0.0;
    }
}

/* one Rosenbrock step (Hairer & Wanner II, IV.7, (7.25)); U receives the u_i */
static int bs_ros_try(const bs_args *a, int64_t i, double t, double h, const double *y,
                      double *p, int r, const double *J, const double *ft, const double *f0,
                      double U[][NS], double *yn, double *en) {
    const int64_t S0 = a->s;
    double W[NS * NS], yt[NS], fx[NS], e[NS];
    int piv[NS];
    for (int k = 0; k < NS * NS; ++k) W[k] = -J[k];
    for (int k = 0; k < NS; ++k) W[k * NS + k] += 1.0 / (a->gamma * h);
    if (!bs_lu(W, piv)) return 0;
    for (int64_t s = 0; s < S0; ++s) {
        if (s == 0) memcpy(fx, f0, sizeof fx);
        else {
            for (int k = 0; k < NS; ++k) {
                double acc = 0.0;
                for (int64_t l = 0; l < s; ++l) acc += a->A[s * S0 + l] * U[l][k];
                yt[k] = y[k] + acc;
            }
            bs_rhs(a, i, t + a->c[s] * h, t, yt, p, r, fx);
        }
        for (int k = 0; k < NS; ++k) {
            double acc = 0.0;
            for (int64_t l = 0; l < s; ++l) acc += a->ros_C[s * S0 + l] * U[l][k];
            U[s][k] = fx[k] + acc / h + h * a->ros_d[s] * ft[k];
        }
        bs_lusolve(W, piv, U[s]);
    }
    for (int k = 0; k < NS; ++k) {
        double sb = 0.0, se = 0.0;
        for (int64_t s = 0; s < S0; ++s) { sb += a->b[s] * U[s][k]; se += a->b_err[s] * U[s][k]; }
        yn[k] = y[k] + sb; e[k] = se;
    }
    *en = bs_rms(e, y, yn, a->rtol, a->atol);
    return 1;
}

static int bs_instance(bs_args *a, int64_t i) {
    double y[NS], yn[NS], p[NPA], U[BS_SMAX][NS], J[NS * NS], ft[NS], f0[NS];
    const int64_t S0 = a->s;
    double t = a->t0, h, log_prev = 0.0;
    int64_t nrhs = 0, njac = 0, nacc = 0, nrej = 0, kr = 0, jb = 0, bad = 0;
    int have = 0, rej = 0;
    bs_ev E = {0, 0, -INFINITY};
    bs_load(a, i, y, p);
    memcpy(yn, y, sizeof yn);
    if (a->n_stim) bs_stim(a, i, t, t, p);
    if (HAS_THRESHOLD) E.th_prev = bs_threshold(t, y, p);
    if (a->n_record) bs_record(a, i, 0, y);
    kr = a->n_record ? 1 : a->n_rec;
    if (a->dt > 0.0) h = fmin(a->dt, a->t1 - a->t0);
    else h = bs_initial_step(a, i, t, bs_next_stop(a, &jb, t, &E) - t, y, p, f0, &nrhs);
    while (t < a->t1) {
        if (nacc + nrej >= a->max_steps) return bs_fail(a, i, t, -1, BS_MAXSTEPS);
        if (BS_STOPPED(a)) return bs_fail(a, i, t, -1, BS_STOP);
        const double stop = bs_next_stop(a, &jb, t, &E);
        const int hit = h >= (stop - t) * (1.0 - 4.0 * DBL_EPSILON);
        const double hs = hit ? stop - t : h;
        if (!(hs >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
            if (!hit) return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            t = stop; have = 0;
            bs_ref_update(a, i, &E, t, t, y, p);
            continue;
        }
        if (!have) {
            bs_rhs(a, i, t, t, y, p, E.ref, f0);
            bs_jacobian(a, i, t, y, p, E.ref, J, ft);
            ++nrhs; ++njac; have = 1;
        }
        double en = NAN;
        if (!bs_ros_try(a, i, t, hs, y, p, E.ref, J, ft, f0, U, yn, &en)) en = NAN;
        nrhs += S0 - 1;
        if (!(en <= 1.0)) {
            ++nrej; rej = 1;
            h = hs * bs_reject_factor(a, en);
            if (!(h >= 10.0 * DBL_EPSILON * fmax(1.0, fabs(t)))) {
                if (!bs_finite(yn, &bad)) return bs_fail(a, i, t + hs, bad, BS_BLOWUP);
                return bs_fail(a, i, t, bs_worst(a, y, yn), BS_UNDERFLOW);
            }
            continue;
        }
        ++nacc;
        const double tn = hit ? stop : t + hs;
        if (!bs_finite(yn, &bad)) return bs_fail(a, i, tn, bad, BS_BLOWUP);
        bs_step St = {a, i, t, hs, 1.0, tn, S0, y, yn, U, p, E.ref, &nrhs};
        int restart = 0;
        const int rej_before = rej;
        const int st = bs_accept(a, &St, &E, &kr, &t, y, &restart, bs_rodas_dense);
        rej = 0;
        if (st != BS_OK) return st;
        have = 0;
        h = hs * bs_pi(a, en, &log_prev, rej_before);
    }
    while (kr < a->n_rec) bs_record(a, i, kr++, y);
    bs_store(a, i, y, nrhs, nacc, nrej, njac);
    return BS_OK;
}
"""

#: Options of the two units of the fixed family: the vectorised lane functions and
#: steppers need -O2 (their loops vectorise) and contract ``a*b + c`` into fused
#: multiply-adds where the clone has them (x86-64-v3: 20-25% faster HH ensembles); the
#: driver (events, spike lists, merging) runs once per block step, compiles twice as
#: fast at -O1 and stays ISO C (no contraction).
KERNEL_OPT, DRIVER_OPT = "-O2 -ffp-contract=fast", "-O1"

_DRIVERS = {
    "fixed": _FIXED,
    "adaptive": _SERIAL_RUN + _DENSE_EVENTS + _ADAPTIVE,
    "rodas": _SERIAL_RUN + _DENSE_EVENTS + _RODAS,
}


def family_of(method: str) -> str:
    """Driver family (``fixed``, ``adaptive``, ``rodas``) of a method name."""
    try:
        return FAMILIES[method]
    except KeyError:
        raise MethodError(
            f"unknown method {method!r}; choose one of {', '.join(FAMILIES)}."
        ) from None


def generate_source(spec, family: str) -> str:
    """The C99 translation unit of ``spec`` for one driver family.

    Parameters
    ----------
    spec : KernelSpec
    family : {"fixed", "adaptive", "rodas"}

    Returns
    -------
    str
    """
    from biosnn.names import source_token
    from biosnn.solvers import noise

    if family not in _DRIVERS:
        raise ValueError(f"unknown driver family {family!r}")
    model = _model_functions(spec, family)
    lanes = _lane_functions(spec) if family == "fixed" else ""
    # no text of a file in generated source: the name and key only as plain tokens
    parts = [
        _HEADER,
        f"/* model {source_token(spec.name)}, key {source_token(spec.key)}, family {family} */\n",
        _defines(spec),
        _c_struct(),
    ]
    if "bs_xexpm1" in model + lanes:
        from biosnn.codegen.functions import C_GIVEN_EXP, C_PRELUDE

        parts.append(C_PRELUDE)
        if "bs_xexpm1e(" in model + lanes:
            parts.append(C_GIVEN_EXP)
    if family != "fixed":
        return "\n".join([*parts, model, _COMMON_STIM, _COMMON, _DRIVERS[family]])
    protos = "".join(
        f"BS_HIDDEN void {name}(double t, const double *restrict Y, "
        f"const double *restrict P, {outs});\n"
        for name, outs in LANE_OUTS.items()
    )
    return "\n".join(
        [
            *parts,
            _COMMON_STIM,
            protos,
            _FIXED_TYPES,
            UNIT_MARKER.format(name="kernels", opt=KERNEL_OPT),
            _VMATH,
            lanes,
            _FIXED_KERNELS,
            UNIT_MARKER.format(name="driver", opt=DRIVER_OPT),
            noise.C_SOURCE,
            model,
            _COMMON,
            _FIXED,
        ]
    )


# --------------------------------------------------------------------------------------
# kernels: build, cache, load
# --------------------------------------------------------------------------------------
_KERNELS: dict = {}


def _generator_version() -> str:
    """The version of the code that generates C: :func:`biosnn.cache.package_key`."""
    from biosnn import cache

    return cache.package_key()


class CKernel:
    """A compiled, loaded C kernel of one model and driver family.

    Attributes
    ----------
    key : str
        Model key (``KernelSpec.key``).
    family : str
    path : pathlib.Path
        The shared library in the cache.
    source : str
        The generated C source (after a warm start: read from the cache, hash-checked, by
        ``source_of``).
    """

    def __init__(self, key: str, family: str, path, source: str | None = None, source_of=None):
        from biosnn.codegen import c_build

        self.key, self.family, self.path = key, family, Path(path)
        self._source, self._source_of = source, source_of
        self._lib = c_build.load_library(self.path)
        self._run = self._lib.bs_run
        self._run.argtypes = [ctypes.POINTER(BsArgs)]
        self._run.restype = ctypes.c_int

    @property
    def source(self) -> str:
        if self._source is None and self._source_of is not None:
            self._source = self._source_of()
        return self._source

    def __call__(self, args: BsArgs, stop=None) -> int:
        """Run the driver on ``args``; with ``stop`` (the int64 array behind
        ``args.stop``) Ctrl-C stops it within a step (:mod:`biosnn._interrupt`).
        """
        if stop is None:
            return int(self._run(ctypes.byref(args)))
        from biosnn import _interrupt

        return _interrupt.call(lambda: int(self._run(ctypes.byref(args))), stop)

    def __repr__(self) -> str:
        return f"CKernel({self.key[:12]}..., {self.family!r}, {self.path.name})"


def kernel(spec, family: str) -> CKernel:
    """The C kernel of ``spec`` for ``family``: in memory, else cached on disk (warm:
    no printing, no compiling), else generated and compiled.

    Raises
    ------
    CompilerError
        No working compiler, or compilation failed.
    """
    from biosnn.codegen import c_build

    # no compiler: require_compiler's CompilerError says what was tried (no probe here)
    compiler = c_build.find_compiler() or c_build.require_compiler()
    warm_key = f"{spec.key}|{family}|{_generator_version()}"
    mem_key = (warm_key, compiler.identity, str(c_build.cache_dir()))
    k = _KERNELS.get(mem_key)
    if k is not None:
        return k
    path = c_build.lookup_alias(warm_key, compiler)
    source = None
    if path is None:
        # a KernelLayout (warm start) prints from its full KernelSpec
        full = spec.full_spec() if hasattr(spec, "full_spec") else spec
        source = generate_source(full, family)
        path = c_build.build(source, compiler)
        c_build.write_alias(warm_key, compiler, path, source)

    def source_of():  # this kernel's own source (libraries may be shared by models)
        text = c_build.alias_source(warm_key, compiler)
        if text is None:
            text = generate_source(spec.full_spec() if hasattr(spec, "full_spec") else spec, family)
        return text

    k = CKernel(spec.key, family, path, source, source_of)
    _KERNELS[mem_key] = k
    return k


def available() -> bool:
    """True if a C compiler is present and works (never warns; see
    :mod:`biosnn.codegen.backend` for the choice of backend).
    """
    from biosnn.codegen import c_build

    return c_build.compiler_available()


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def _check(spec, request) -> str:
    method = request.method
    family = family_of(method)
    if family != "fixed" and spec.n_noises:
        raise MethodError(
            f"method {method!r} cannot integrate a model with noise "
            f"({', '.join(spec.noises)}); use 'euler_maruyama' or "
            "'stochastic_heun'."
        )
    if method in FIXED_STEP and spec.n_noises:
        raise MethodError(
            f"method {method!r} ignores noise; use 'euler_maruyama' or "
            "'stochastic_heun' for a model with "
            f"{', '.join(spec.noises)}."
        )
    if family == "fixed" and not (request.dt and request.dt > 0):
        raise MethodError(f"method {method!r} needs a time step, e.g. dt=0.01.")
    if family != "fixed" and (request.rtol is None or request.atol is None):
        raise MethodError(
            f"method {method!r} is adaptive and needs explicit tolerances, "
            "e.g. rtol=1e-6, atol=1e-9."
        )
    if family == "fixed" and request.n_fixed_steps > request.max_steps:
        steps = request.n_fixed_steps
        raise SimulationError(
            f"{steps if steps < 10**12 else f'{steps:.3g}'} steps of dt = {request.dt:g} "
            "are needed, more than "
            f"max_steps = {request.max_steps}; increase max_steps or dt."
        )
    if not np.isfinite(np.asarray(request.y0, float)).all():
        raise SimulationError("the initial state is not finite.")
    if method == "exact" and request.propagator is None:
        raise MethodError("method 'exact' needs the propagator (computed by simulate).")
    return family


def _controller(k: int) -> dict:
    """Constants of :class:`biosnn.solvers.controllers.PIController` of order ``k``."""
    from biosnn.solvers.controllers import PIController

    pi = PIController(order=k)
    return {
        "safety": pi.safety,
        "fac_min": pi.factor_min,
        "fac_max": pi.factor_max,
        "beta1": pi.alpha,
        "beta2": pi.beta,
        "expo_rej": 1.0 / k,
    }


class _Args:
    """Owns the arrays behind a BsArgs struct (keeps them alive while C runs)."""

    def __init__(self):
        self.s = BsArgs()
        self.keep = {}

    def set(self, name, value):
        if isinstance(value, np.ndarray):
            self.keep[name] = value
            value = value.ctypes.data if value.size else None
        setattr(self.s, name, value)


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _i64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


def _set_stimuli(args: _Args, request, n: int) -> None:
    items = sorted(request.stimuli.items())
    toff, voff, times, values = [], [], [], []
    t_at, v_at = 0, 0
    for k, stim in items:
        if stim.n_columns not in (1, n):
            raise SimulationError(
                f"stimulus of parameter {k} has {stim.n_columns} columns; "
                f"expected 1 or {n} (one per instance)."
            )
        toff.append(t_at)
        voff.append(v_at)
        times.append(stim.times)
        values.append(stim.values.reshape(-1))
        t_at += stim.times.size
        v_at += stim.values.size

    def cat(xs):
        return np.concatenate(xs) if xs else np.zeros(0)

    args.set("n_stim", len(items))
    args.set("stim_param", _i64([k for k, _ in items]))
    args.set("stim_kind", _i64([0 if s.kind == "step" else 1 for _, s in items]))
    args.set("stim_ntimes", _i64([s.times.size for _, s in items]))
    args.set("stim_ncols", _i64([s.n_columns for _, s in items]))
    args.set("stim_toff", _i64(toff))
    args.set("stim_voff", _i64(voff))
    args.set("stim_times", _f64(cat(times)))
    args.set("stim_values", _f64(cat(values)))
    bps = [s.breakpoints for _, s in items]
    bp = np.unique(cat(bps)) if bps else np.zeros(0)
    bp = bp[(bp > request.t0) & (bp < request.t1)]
    args.set("n_bp", int(bp.size))
    args.set("bp", _f64(bp))


def _set_method(args: _Args, spec, request, family: str) -> None:
    method = request.method
    if method in FIXED_CODES:  # no tableau: skip building the catalogue (start-up)
        ROSENBROCK = TABLEAUX = {}
    else:
        from biosnn.solvers.tableaux import ROSENBROCK, TABLEAUX
    if family == "rodas":
        tab = ROSENBROCK[method]
        s, st, k = tab.n_stages, tab.n_stages, tab.error_exponent_order
        arrays = {
            "c": tab.c,
            "A": tab.a,
            "b": tab.m,
            "b_err": tab.m_err,
            "dense": tab.dense,
            "ros_d": tab.d,
            "ros_C": tab.C,
        }
        args.set("gamma", float(tab.gamma))
        fsal, has_low = 0, 0
    elif method in TABLEAUX:
        tab = TABLEAUX[method]
        s, st = tab.n_stages, tab.n_stages_total
        k = tab.error_exponent_order or 1
        arrays = {"c": tab.c, "A": tab.A, "b": tab.b}
        if family == "adaptive":
            arrays.update(b_err=tab.b_err, dense=tab.dense)
            if tab.b_err_low is not None:
                arrays["b_err_low"] = tab.b_err_low
        npt = tab.new_point_stage
        fsal = npt + 1 if npt is not None else 0
        has_low = int(tab.b_err_low is not None)
    else:
        s = st = 0
        k, arrays, fsal, has_low = 1, {}, 0, 0
        args.set("method", FIXED_CODES[method])
    if max(s, st) > SMAX:
        raise MethodError(f"method {method!r} has more than {SMAX} stages.")
    for name, arr in arrays.items():
        args.set(name, _f64(arr))
    dense = arrays.get("dense")
    args.set("s", s)
    args.set("s_total", st)
    args.set("q", int(dense.shape[1]) if dense is not None else 0)
    args.set("fsal", fsal)
    args.set("has_low", has_low)
    for name, value in _controller(k).items():
        args.set(name, float(value))


def _build_args(spec, request, family: str) -> _Args:
    from biosnn.solvers import noise

    n = request.n
    args = _Args()
    y0 = _f64(request.y0)
    params = np.asarray(request.params, dtype=np.float64)
    if params.ndim == 1:
        params = params[:, None]
    params = _f64(np.broadcast_to(params, (spec.n_params, n)))  # rows may broadcast
    if y0.shape != (spec.n_states, n):
        raise SimulationError(f"y0 must have shape ({spec.n_states}, n), got {y0.shape}.")
    t_rec = request.record_times()
    rec = _i64(request.record_states)
    args.set("n", n)
    args.set("i_start", 0)
    args.set("method", 0)
    for name in ("t0", "t1", "rtol", "atol"):
        v = getattr(request, name)
        args.set(name, float(v) if v is not None else 0.0)
    args.set("dt", float(request.dt) if request.dt else 0.0)
    args.set("n_steps", request.n_fixed_steps if family == "fixed" else 0)
    args.set("record_every", max(int(request.record_every), 1))
    args.set("record_dt", float(request.record_dt))
    args.set("n_rec", int(t_rec.size))
    args.set("n_record", int(rec.size))
    args.set("record_states", rec)
    args.set("y0", y0)
    args.set("params", params)
    args.set("y_rec", np.zeros((rec.size, n, t_rec.size)))
    args.set("y_final", np.zeros((spec.n_states, n)))
    args.set("stats", np.zeros((n, 4), dtype=np.int64))
    _set_stimuli(args, request, n)
    seed = request.seed if request.seed is not None else 0  # as the NumPy driver
    args.set("key", int(noise.seed_key(seed)))
    args.set("max_steps", int(request.max_steps))
    if request.propagator is not None:
        prop = _f64(request.propagator)
        args.set("prop", prop)
        args.set("prop_ncols", int(prop.shape[0]))
    _set_method(args, spec, request, family)
    cap = max(1024, 4 * n)
    args.set("spike_cap", cap)
    args.set("n_spikes", 0)
    args.set("spike_index", np.zeros(cap, dtype=np.int64))
    args.set("spike_time", np.zeros(cap))
    args.set("n_threads", n_threads() if family == "fixed" else 1)
    args.set("stop", np.zeros(1, np.int64))
    args.keep["t_rec"] = t_rec
    return args


_THREADS_PID: list = []  # pid of the process that started OpenMP threads


def n_threads() -> int:
    """Threads of the fixed-step driver: ``$BIOSNN_NUM_THREADS``, default all usable cores.

    A process forked after OpenMP threads were started uses one thread (libgomp's thread
    pool does not survive ``fork``).  Results do not depend on the thread count.
    """
    import os

    env = os.environ.get("BIOSNN_NUM_THREADS", "").strip()
    try:
        nt = max(1, int(env)) if env else 0
    except ValueError:
        nt = 0
    if not nt:
        try:
            nt = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            nt = os.cpu_count() or 1
    if _THREADS_PID and _THREADS_PID[0] != os.getpid():
        return 1
    if nt > 1 and not _THREADS_PID:
        _THREADS_PID.append(os.getpid())
    return nt


def _grow_spikes(args: _Args) -> None:
    cap = max(2 * args.s.spike_cap, int(args.s.spike_need))
    for name, dtype in (("spike_index", np.int64), ("spike_time", np.float64)):
        new = np.zeros(cap, dtype=dtype)
        new[: args.s.n_spikes] = args.keep[name][: args.s.n_spikes]
        args.set(name, new)
    args.set("spike_cap", cap)


def _raise(spec, args: _Args, status: int) -> None:
    a = args.s
    where = f"at t = {a.fail_time:.10g} in instance {a.fail_instance}"
    if status == 2:
        var = spec.states[a.fail_var] if 0 <= a.fail_var < spec.n_states else "?"
        raise SimulationError(
            f"the state became non-finite {where}: variable {var!r} "
            "(blow-up; try a smaller dt or tighter tolerances)."
        )
    if status == 3:
        raise SimulationError(
            f"more than max_steps = {a.max_steps} steps {where}; "
            "raise max_steps or loosen the tolerances."
        )
    if status == 4:
        var = spec.states[a.fail_var] if 0 <= a.fail_var < spec.n_states else "?"
        raise SimulationError(
            f"the step size underflowed {where} (variable {var!r} changed fastest): the "
            "solution blows up or the model is too stiff for this method (try "
            "method='rodas4')."
        )
    raise SimulationError(f"{STATUS.get(status, 'error')} {where}.")


def run(spec, request) -> RawRun:
    """Integrate ``request`` with the compiled C drivers.

    Parameters
    ----------
    spec : KernelSpec
    request : RunRequest

    Returns
    -------
    RawRun

    Raises
    ------
    MethodError, SimulationError, CompilerError
    """
    family = _check(spec, request)
    k = kernel(spec, family)
    args = _build_args(spec, request, family)
    while True:
        status = k(args.s, args.keep["stop"])
        if status == 1:
            _grow_spikes(args)
            args.set("i_start", int(args.s.fail_instance))
            continue
        if status != 0:
            _raise(spec, args, status)
        break
    m = args.s.n_spikes
    stats = args.keep["stats"].sum(axis=0)
    return RawRun(
        t=args.keep["t_rec"],
        y=args.keep["y_rec"],
        spike_index=args.keep["spike_index"][:m].copy(),
        spike_time=args.keep["spike_time"][:m].copy(),
        y_final=args.keep["y_final"],
        stats={
            "n_steps": int(stats[0]),
            "n_rejected": int(stats[1]),
            "n_rhs": int(stats[2]),
            "n_jac": int(stats[3]),
            "backend": "c",
        },
    )
