"""The C engine of a network: one generated translation unit runs whole steps in C.

``int bsn_run(void **P, const int64_t *I, const double *D, int64_t step0, int64_t
nsteps, int64_t *done)`` advances every population, source, synapse group and monitor
of the network by up to ``nsteps`` steps.  ``P`` holds the addresses of the NumPy arrays
of :attr:`Network.arrays` (and of the monitors' buffers) in the order of
:func:`layout`; ``I`` the sizes; ``D`` = [dt].  Sizes, parameter values, connectivity
and durations are arguments: a library depends only on :meth:`Network.key` (model
structure keys, methods, which parameters are per-neuron arrays, synapse texts, delay
kinds, monitors), the compiler, the flags and the CPU (``-march=native``).

It returns 1 when a spike monitor's buffer could overflow in the next step (``*done``
says how many steps were made; Python grows the buffer and calls again), 2 when
``done[1]`` (the stop flag, set by Python on Ctrl-C from another thread, read once per
step: :mod:`biosnn._interrupt`) is non-zero, else 0.

The snippets are the same as the NumPy engine's (:mod:`biosnn.network._lower`); with
``-ffp-contract=off`` and biosnn's own ``exp``/``expm1`` (:mod:`biosnn.network._vmath`)
and normal draws (:mod:`biosnn.solvers.noise`) both engines produce the same bits and the
same spikes (other transcendental functions: see docs/network.md).
When the NumPy engine evaluates population code with :mod:`biosnn.network._vmath`
(``_npengine.VECTOR_MATH``), so does this engine, and the update loops vectorise.

Speed without changing a bit: one function per population with a ``restrict`` pointer
per state row (GCC vectorises it), shared parameters and exact propagators as scalars,
refractoriness and thresholds as masks and bytes, per-step invariants hoisted out of the
loop, spike lists compacted 8 bytes at a time; large populations split into one block
per OpenMP thread (docs/network.md, "Engines and code generation").
The library and the snippets (JSON, needed on the Python side for refractory times and
exact propagators) are cached as hash-named blobs (:mod:`biosnn.cache`) found through
refs keyed by :meth:`Network.key` (which includes the package key), so a warm start
imports no sympy; both are hash-checked before use.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import threading
from pathlib import Path

import numpy as np

from biosnn.errors import CompilerError
from biosnn.names import source_token
from biosnn.network.objects import check_memory

__all__ = ["CEngine", "cached_snippets", "generate", "generate_units", "layout", "FLAGS"]

FLAGS = (
    "-O3",
    "-march=native",
    "-std=c99",
    "-fPIC",
    "-shared",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
)
#: A population whose method is not 'exact' runs its neurons on OpenMP threads from
#: this many neurons on (exact updates are too cheap to share below PAR_EXACT: CUBA-64000
#: ran 1.6 s wall on one thread against 2.6-3.6 s on two at load 5; docs/benchmarks.md).
#: Threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): with spinning threads a
#: busy machine makes the per-step barrier cost 5-20x the work (docs/benchmarks.md).
PAR_MIN, PAR_EXACT = 2_000, 100_000


def _cpu_id() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    keep = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


# -- the compiler's first-use checks, in the background ----------------------------------
#: compiler identity -> the thread running its first-use checks (at most one each)
_CHECKS: dict = {}


def start_checks() -> None:
    """Start the compiler's first-use checks in a background thread when they are not
    known yet (an empty cache): :func:`biosnn.codegen.c_build.require_compiler` (it builds
    and loads a probe library) and the OpenMP probe
    (:func:`~biosnn.codegen.c_build.openmp_available`).  Both run the compiler (0.1-0.3 s
    each); the Network starts them when it is created, so that they run while it builds
    its arrays and lowers its equations (sympy), and :func:`wait_checks` joins them before
    the engine needs their answers.  Nothing is started when the answers are known (a
    warm cache, or a second network in the same process).  An error in the thread is
    dropped: the engine asks again in the foreground and reports it there.
    """
    from biosnn.codegen import c_build

    compiler = c_build.find_compiler()
    if compiler is None or compiler.identity in _CHECKS:
        return
    if c_build.openmp_known(compiler) is not None:
        return

    def work():
        try:
            c_build.require_compiler()
            c_build.openmp_available(compiler)
        except Exception:  # asked again in the foreground, which reports it
            pass

    thread = threading.Thread(target=work, name="biosnn-compiler-checks", daemon=True)
    _CHECKS[compiler.identity] = thread
    thread.start()


def wait_checks() -> None:
    """Wait for the checks :func:`start_checks` started (nothing when none runs)."""
    for thread in list(_CHECKS.values()):
        thread.join()


# -- the checks of Network: what a cached library says ------------------------------------
def cached_snippets(net):
    """The snippets stored with the compiled library of ``net``'s structure (its key), or
    None: no compiler, not compiled yet, or an unreadable file.  Data only (JSON): the
    Network checks them when it is built (warm start: no sympy); nothing is run here.
    A cache without the compiler's OpenMP answer (empty: the probe runs in the
    background, :func:`start_checks`) is a miss without a look: the library's key needs
    the flags.
    """
    from biosnn.codegen import c_build

    compiler = c_build.find_compiler()
    if compiler is None or c_build.openmp_known(compiler) is None:
        return None
    found = _cached(net.key(), compiler)
    if found is None:
        return None
    snippets = found[1]
    ok = (
        isinstance(snippets, dict)
        and isinstance(snippets.get("pops"), list)
        and len(snippets["pops"]) == len(net.populations)
    )
    return snippets if ok else None


def _cached(net_key: str, compiler):
    """``(library path, snippets)`` of a network key in the cache, both hash-checked, or
    None (the lookup of CEngine's warm start; see :func:`_refs`).
    """
    return _warm(*_refs(net_key, compiler))


def layout(st: dict) -> tuple[list, list]:
    """(pointer slot names, integer slot names) of a network structure."""
    ptr, ints = [], ["key", "RUN0"]
    for k, _ in enumerate(st["pops"]):
        ptr += [f"{x}{k}" for x in ("Y", "PS", "PA", "LS", "AB", "RF", "RT", "MP", "MI", "SF")]
        ints.append(f"N{k}")
        if st["pops"][k].get("noises"):
            ints.append(f"NS{k}")
        if st["pops"][k].get("driven"):
            ptr.append(f"DT{k}")
    nroots = len(st["pops"]) + len(st["sources"])
    for r in range(nroots):
        ptr += [f"HS{r}", f"HN{r}"]
        ints += [f"NR{r}", f"H{r}"]
    for j, src in enumerate(st["sources"]):
        if src["kind"] == "gen":
            ptr += [f"GS{j}", f"GI{j}", f"GP{j}"]
            ints.append(f"NG{j}")
        else:
            ptr.append(f"PR{j}" if src["kind"] == "poisson_const" else f"PT{j}")
            ints.append(f"ST{j}")
    for g, syn in enumerate(st["syns"]):
        ptr += [f"DP{g}" if syn["hetero"] else f"IP{g}", f"PO{g}", f"SV{g}", f"QS{g}"]
        ints += [f"OFF{g}", f"NPRE{g}", f"D{g}", f"NSYN{g}"]
        ptr, ints = ptr + _extra_slots(g, syn)[0], ints + _extra_slots(g, syn)[1]
    for m, mon in enumerate(st["mons"]):
        if mon["kind"] == "spike":
            ptr += [f"BI{m}", f"BS{m}", f"BN{m}", f"BK{m}"]
            ints += [f"MO{m}", f"MNS{m}"]
        elif mon["kind"] == "rate":
            ptr.append(f"RC{m}")
            ints += [f"MO{m}", f"MNS{m}"]
        else:
            ptr += [f"SB{m}", f"SX{m}", f"SR{m}", f"SC{m}"]
            ints += [f"SP{m}", f"SNX{m}", f"SNV{m}", f"SE{m}", f"SNP{m}"]
    return ptr, ints


_TYPES = {
    "Y": "double",
    "PS": "const double",
    "PA": "const double",
    "LS": "double",
    "AB": "uint8_t",
    "RF": "uint8_t",
    "RT": "const double",
    "MP": "const double",
    "MI": "const int32_t",
    "SF": "uint8_t",
    "HS": "int32_t",
    "HN": "int64_t",
    "GS": "const int64_t",
    "GI": "const int32_t",
    "GP": "int64_t",
    "PR": "const double",
    "PT": "const double",
    "DP": "const int64_t",
    "IP": "const int64_t",
    "PO": "const int32_t",
    "SV": "double",
    "QS": "const double",
    "BI": "int32_t",
    "BS": "int64_t",
    "BN": "int64_t",
    "BK": "const uint8_t",
    "RC": "int64_t",
    "SB": "double",
    "SX": "const int64_t",
    "SR": "const int64_t",
    "SC": "int64_t",
}


_TYPES.update(
    {
        "DT": "const double",
        "LU": "double",
        "PI": "const int32_t",
        "BP": "const int64_t",
        "BX": "const int64_t",
    }
)


def _prefix(name: str) -> str:
    return name.rstrip("0123456789")


def _indent(lines, n):
    return ["    " * n + ln for ln in lines]


_MREF = re.compile(r"\bM\[(\d+)\]\[(\d+)\]")


def _pop_function(k, pop, snip) -> list:
    """``static void bsn_update{k}(...)``: one step of every neuron of population k.

    A separate function with one ``restrict`` pointer per state row, so that GCC
    vectorises the loop (struct of arrays, no aliasing between rows): shared parameters
    and, for 'exact', the propagator are scalars; refractoriness is a mask
    (``ref ? y : yn``); the threshold writes a byte per neuron (``SF``) that
    :func:`_compact` turns into the spike list.  The arithmetic is the snippet's, in the
    snippet's order.
    """
    ns, params, arr = len(pop["states"]), pop["params"], pop["array_params"]
    exact = pop["method"] == "exact"
    rows = ", ".join(f"double *restrict Y_{i}" for i in range(ns))
    # no text of a file in generated source: the model name only as a plain token
    L = [
        f"/* population {k}: {source_token(pop['name'])} ({source_token(pop['method'])}) */",
        f"static void bsn_update{k}(const int64_t j0, const int64_t j1, const int64_t N, "
        "const double tn, const double dt, "
        f"{rows}, const double *restrict PS, const double *restrict PA, "
        "const double *restrict LS, const uint8_t *restrict RF, const double *restrict RT, "
        "const double *restrict MP, const int32_t *restrict MI, uint8_t *restrict AB, "
        f"uint8_t *restrict SF{_noise_params(k, pop)}) {{",
        "    (void)PA; (void)LS; (void)RF; (void)RT; (void)MP; (void)MI; (void)AB;",
        "    const double tref = tn + 0.5*dt; (void)tref;",
    ]
    for kk, p in enumerate(params):
        if p not in arr:
            L.append(f"    const double P_{kk} = PS[{kk}]; (void)P_{kk};")
    update = list(snip["update"]["c"])
    if exact and not arr:
        for a in range(ns):
            for b in range(ns + 1):
                L.append(f"    const double M_{a}_{b} = MP[{a * (ns + 1) + b}];")
        update = [_MREF.sub(r"M_\1_\2", ln) for ln in update]
    update = [part for ln in update for part in _split_phi(ln)]
    uniform = {f"P_{kk}" for kk, p in enumerate(params) if p not in arr} | {"dt", "tn"}
    if exact and not arr:
        uniform |= {f"M_{a}_{b}" for a in range(ns) for b in range(ns + 1)}
    hoisted, update = _hoist(update, uniform)
    L += ["    " + ln for ln in hoisted]
    # a refractory time of shared parameters only is the same for every neuron
    # (Network._reftimes fills RT with one value): read it once, not once per neuron
    shared_rt = (
        snip["reftime"] is not None
        and set(re.findall(r"\bP_\d+\b", snip["reftime"]["c"])) <= uniform
    )
    if shared_rt:
        L.append("    const double rt = RT[0];")
    B = [f"const double y_{i} = Y_{i}[j];" for i in range(ns)]
    for kk, p in enumerate(params):
        if p in arr:
            B.append(f"const double P_{kk} = PA[{arr.index(p)}*N + j]; (void)P_{kk};")
    if exact and arr:
        B.append(
            f"const double (*M)[{ns + 1}] = (const double (*)[{ns + 1}])(MP + "
            f"{ns * (ns + 1)}*(int64_t)MI[j]);"
        )
    head = list(B)  # per-neuron reads: states, array parameters, propagator
    B.append("double tt = tn; (void)tt;")
    B += _noise_defs(k, pop)
    B.append("double " + ", ".join(f"yn_{i}" for i in range(ns)) + ";")
    B += update
    if snip["refcond"] is not None:
        ref = "const int ref = RF[j] != 0;"
    elif snip["reftime"] is not None:
        ref = f"const int ref = tref < LS[j] + {'rt' if shared_rt else 'RT[j]'};"
    else:
        ref = "const int ref = 0;"
    held = [
        i
        for i, h in enumerate(snip["held"])
        if h and (snip["refcond"] is not None or snip["reftime"] is not None)
    ]
    # Split (every method but 'exact'): the threshold runs in a second loop over the
    # stored states, so the update loop touches no byte array (but RF when a refractory
    # condition holds states).  A byte array in the update loop makes GCC vectorise it
    # 64 neurons wide (8 vectors per double operation): the same speed, but 8x the code
    # of a large update (an rk4 HH step: 25,000 instructions, 5-10 s of register
    # allocation).  The threshold sees the same values (the stored yn) and the same
    # ``tt`` (the update's last stage time), so the same bits.
    split = not exact
    if held or not split:
        B.append(ref)
    B += [f"yn_{i} = ref ? y_{i} : yn_{i};" for i in held]
    B += [f"Y_{i}[j] = yn_{i};" for i in range(ns)]
    T = []
    if snip["threshold"] is not None:
        T.append("{")
        T += [f"    const double y_{i} = yn_{i}; (void)y_{i};" for i in range(ns)]
        T.append(f"    const int c1 = {snip['threshold']['c']} ? 1 : 0;")
        prev = "" if snip.get("level") else " & !AB[j]"  # threshold rule: network.md
        T.append(f"    SF[j] = (uint8_t)(c1{prev} & !ref);")
        if not snip.get("level"):  # the level rule never reads the previous check
            T.append("    AB[j] = (uint8_t)c1;")
        T.append("}")
    else:
        T.append("SF[j] = 0; (void)ref;")
    if not split:
        L += ["    for (int64_t j = j0; j < j1; ++j) {"] + _indent(B + T, 2) + ["    }", "}"]
        return L
    last_tt = [ln for ln in update if ln.startswith("tt = ")]
    tt = last_tt[-1][len("tt = ") : -1] if last_tt else "tn"
    C = [ln.replace("const double y_", "const double yn_", 1) for ln in head[:ns]]
    C += head[ns:]
    C += [f"const double tt = {tt}; (void)tt;", ref]
    L += ["    for (int64_t j = j0; j < j1; ++j) {"] + _indent(B, 2) + ["    }"]
    L += ["    for (int64_t j = j0; j < j1; ++j) {"] + _indent(C + T, 2) + ["    }", "}"]
    return L


_PHI = re.compile(
    r"^(yn_\d+) = (y_\d+ \+ \((A_\d+)\*y_\d+ \+ B_\d+\))\*"
    r"\(\(\3 == 0\.0\) \? dt : (\w+)\(\3\*dt\)/\3\);$"
)
_DECL = re.compile(r"^(?:const )?double (\w+) = (.*);$")
_NUMBER = re.compile(r"(?<![\w.])\d[\d.]*(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b(?!\s*\()")


def _split_phi(line: str) -> list:
    """Exponential Euler's ``yn = y + (A y + B)*((A == 0.0) ? dt : expm1(A dt)/A)`` as two
    lines, ``phi_i`` first: the same value, but a separate statement that :func:`_hoist`
    moves out of the loop when A is the same for all neurons (ge, gi of COBAHH).
    """
    m = _PHI.match(line)
    if m is None:
        return [line]
    yn, head, a, fn = m.groups()
    phi = f"phi_{a[2:]}"
    return [f"const double {phi} = ({a} == 0.0) ? dt : {fn}({a}*dt)/{a};", f"{yn} = {head}*{phi};"]


def _hoist(lines: list, uniform: set) -> tuple[list, list]:
    """Split declarations that depend only on ``uniform`` names (shared parameters, dt,
    tn, propagator scalars) from the per-neuron lines: they are evaluated once per step,
    before the loop (the same expression, so the same bits).
    """
    uniform, assigned = set(uniform), set()
    for ln in lines:
        m = _DECL.match(ln)
        if m is None:
            t = ln.split("=", 1)[0].strip()
            assigned.add(t)
    out, keep = [], []
    for ln in lines:
        m = _DECL.match(ln)
        if m is not None and m.group(1) not in assigned:
            names = set(_NAME.findall(_NUMBER.sub(" ", m.group(2))))
            if names <= uniform:
                uniform.add(m.group(1))
                out.append("const " + ln if not ln.startswith("const ") else ln)
                continue
        keep.append(ln)
    return out, keep


_COMPACT = """/* indices of the nonzero bytes of SF[0..N) -> out; 8 bytes tested at once */
static int64_t bsn_compact(const uint8_t *restrict SF, const int64_t N,
                           int32_t *restrict out) {
    int64_t cnt = 0, j = 0;
    for (; j + 8 <= N; j += 8) {
        uint64_t w;
        memcpy(&w, SF + j, 8);
        if (w)
            for (int b = 0; b < 8; ++b) if (SF[j + b]) out[cnt++] = (int32_t)(j + b);
    }
    for (; j < N; ++j) if (SF[j]) out[cnt++] = (int32_t)j;
    return cnt;
}"""


def _pop_update(k, pop, snip, r) -> list:
    """The call of ``bsn_update{k}`` and the spike list of step n (ring slot n % H).

    From PAR_MIN neurons (PAR_EXACT for 'exact') the neurons are split into one
    contiguous block per OpenMP thread (block starts multiples of 64), each block run by
    the same vectorised function; the result does not depend on the number of threads.
    """
    ns = len(pop["states"])
    rows = ", ".join(f"Y{k} + {i}*N{k}" for i in range(ns))
    args = (
        f"N{k}, tn, dt, {rows}, PS{k}, PA{k}, LS{k}, RF{k}, RT{k}, MP{k}, MI{k}, AB{k}, "
        f"SF{k}{_noise_args(k, pop)}"
    )
    par = PAR_EXACT if pop["method"] == "exact" else PAR_MIN
    return [
        "{",
        "#if defined(_OPENMP)",
        f"    if (N{k} >= {par}) {{",
        "        #pragma omp parallel",
        "        {",
        "            const int64_t nt = omp_get_num_threads(), th = omp_get_thread_num();",
        f"            const int64_t j0 = (N{k}*th/nt) & ~(int64_t)63;",
        f"            const int64_t j1 = th == nt - 1 ? N{k} : (N{k}*(th + 1)/nt) & ~(int64_t)63;",
        f"            bsn_update{k}(j0, j1, {args});",
        "        }",
        "    } else",
        "#endif",
        f"    bsn_update{k}(0, N{k}, {args});",
        f"    HN{r}[n % H{r}] = bsn_compact(SF{k}, N{k}, HS{r} + (n % H{r})*NR{r});",
        "}",
    ]


def _pop_reset(k, pop, snip, r) -> list:
    ns, params, arr = len(pop["states"]), pop["params"], pop["array_params"]
    L = [
        "{",
        f"    const int64_t N = N{k};",
        f"    const int32_t *sp = HS{r} + (n % H{r})*NR{r};",
        f"    const int64_t cnt = HN{r}[n % H{r}];",
        "    for (int64_t c = 0; c < cnt; ++c) {",
        "        const int64_t j = sp[c];",
    ]
    B = [f"double y_{i} = Y{k}[{i}*N + j];" for i in range(ns)]
    for kk, p in enumerate(params):
        B.append(
            f"const double P_{kk} = PA{k}[{arr.index(p)}*N + j]; (void)P_{kk};"
            if p in arr
            else f"const double P_{kk} = PS{k}[{kk}]; (void)P_{kk};"
        )
    B.append("double tt = tn + dt; (void)tt;")
    B += snip["reset"]["c"]
    B += [f"Y{k}[{i}*N + j] = y_{i};" for i in range(ns)]
    B.append(f"LS{k}[j] = tn + dt;")
    if snip["threshold"] is not None:
        B.append(f"AB{k}[j] = (uint8_t)({snip['threshold']['c']} ? 1 : 0);")
    if snip["refcond"] is not None:
        B.append(f"RF{k}[j] = 1;")
    L += _indent(B, 2)
    L.append("    }")
    if snip["refcond"] is not None:
        L += ["    for (int64_t j = 0; j < N; ++j) {", f"        if (!RF{k}[j]) continue;"]
        R = [f"const double y_{i} = Y{k}[{i}*N + j]; (void)y_{i};" for i in range(ns)]
        for kk, p in enumerate(params):
            R.append(
                f"const double P_{kk} = PA{k}[{arr.index(p)}*N + j]; (void)P_{kk};"
                if p in arr
                else f"const double P_{kk} = PS{k}[{kk}]; (void)P_{kk};"
            )
        R.append("const double tt = tn + dt; (void)tt;")
        R.append(f"RF{k}[j] = (uint8_t)({snip['refcond']['c']} ? 1 : 0);")
        L += _indent(R, 2) + ["    }"]
    L.append("}")
    return L


def _side_defs(side, k, pop) -> list:
    out = [
        f"double *{side}_y{i} = Y{k} + {i}*N{k}; (void){side}_y{i};"
        for i in range(len(pop["states"]))
    ]
    for kk, p in enumerate(pop["params"]):
        if p in pop["array_params"]:
            out.append(
                f"const double *{side}_P{kk} = PA{k} + "
                f"{pop['array_params'].index(p)}*N{k}; (void){side}_P{kk};"
            )
        else:
            out.append(f"const double {side}_P{kk} = PS{k}[{kk}]; (void){side}_P{kk};")
    return out


def _deliver(g, syn, snip, st) -> list:
    if snip["on_pre"] is None:
        return []
    r = syn["pre_root"]
    L = [f"/* synapses {g} */", "{", "    const double tt = tn + dt; (void)tt;"]
    L += [
        f"    double *sv{k} = SV{g} + {k}*NSYN{g}; (void)sv{k};" for k in range(len(syn["svars"]))
    ]
    L += [f"    const double q{k} = QS{g}[{k}]; (void)q{k};" for k in range(len(syn["shared"]))]
    L += _indent(_side_defs("post", syn["post"], st["pops"][syn["post"]]), 1)
    if syn["pre_pop"] is not None:
        L += _indent(_side_defs("pre", syn["pre_pop"], st["pops"][syn["pre_pop"]]), 1)
    body = _event_advance(g, snip) + [ln for s in snip["on_pre"]["list"] for ln in [s["c"]]]
    inner = ["for (int64_t s = lo; s < hi; ++s) {", "    const int64_t j = PO%d[s]; (void)j;" % g]
    inner += _indent(body, 1) + ["}"]
    if syn["hetero"]:
        rng = [
            f"const int64_t lo = DP{g}[il*(D{g} + 2) + lag], hi = DP{g}[il*(D{g} + 2) + lag + 1];"
        ]
        L += [f"    for (int64_t lag = D{g}; lag >= 0; --lag) {{"]
        pre = "        "
    else:
        rng = [f"const int64_t lo = IP{g}[il], hi = IP{g}[il + 1];"]
        L += ["    {", f"        const int64_t lag = D{g};"]
        pre = "        "
    L += [
        pre + ln
        for ln in [
            "const int64_t stp = n - lag;",
            "if (stp >= 0) {",
            f"    const int32_t *sp = HS{r} + (stp % H{r})*NR{r};",
            f"    const int64_t cnt = HN{r}[stp % H{r}];",
            "    for (int64_t c = 0; c < cnt; ++c) {",
            "        const int64_t ip = sp[c]; (void)ip;",
            f"        if (ip < OFF{g} || ip >= OFF{g} + NPRE{g}) continue;",
            f"        const int64_t il = ip - OFF{g};",
        ]
    ]
    L += [pre + "        " + ln for ln in rng + inner]
    L += [pre + "    }", pre + "}", "    }", "}"]
    return L


def _sources(st, npop) -> list:
    L = []
    for j, src in enumerate(st["sources"]):
        r = npop + j
        L += ["{", f"    int32_t *out = HS{r} + (n % H{r})*NR{r};", "    int64_t cnt = 0;"]
        if src["kind"] == "gen":
            L += [
                f"    int64_t p = GP{j}[0];",
                f"    while (p < NG{j} && GS{j}[p] <= n) out[cnt++] = GI{j}[p++];",
                f"    GP{j}[0] = p;",
            ]
        else:
            prob = f"PR{j}[i]" if src["kind"] == "poisson_const" else f"PT{j}[n - RUN0]"
            if src["kind"] == "poisson_neuron":
                prob = f"PT{j}[(n - RUN0)*NR{r} + i]"
            L += [
                f"    for (int64_t i = 0; i < NR{r}; ++i)",
                f"        if (bsn_uniform(key, (uint64_t)n, (uint64_t)(ST{j} + i)) < {prob})"
                " out[cnt++] = (int32_t)i;",
            ]
        L += [f"    HN{r}[n % H{r}] = cnt;", "}"]
    return L


def _monitors(st) -> tuple[list, list]:
    check, rec = [], []
    for m, mon in enumerate(st["mons"]):
        if mon["kind"] == "spike":
            r = mon["root"]
            check.append(f"if (BN{m}[1] - BN{m}[0] < MNS{m}) {{ *done = n - step0; return 1; }}")
            mask = f" && BK{m}[i - MO{m}]" if mon["mask"] else ""
            rec += [
                "{",
                f"    const int32_t *sp = HS{r} + (n % H{r})*NR{r};",
                f"    const int64_t cnt = HN{r}[n % H{r}];",
                "    for (int64_t c = 0; c < cnt; ++c) {",
                "        const int64_t i = sp[c];",
                f"        if (i >= MO{m} && i < MO{m} + MNS{m}{mask}) {{",
                f"            BI{m}[BN{m}[0]] = (int32_t)(i - MO{m}); BS{m}[BN{m}[0]] = n;"
                f" BN{m}[0]++;",
                "        }",
                "    }",
                "}",
            ]
        elif mon["kind"] == "rate":
            r = mon["root"]
            rec += [
                "{",
                f"    const int32_t *sp = HS{r} + (n % H{r})*NR{r};",
                f"    const int64_t cnt = HN{r}[n % H{r}];",
                "    int64_t k = 0;",
                "    for (int64_t c = 0; c < cnt; ++c)",
                f"        k += (sp[c] >= MO{m} && sp[c] < MO{m} + MNS{m});",
                f"    RC{m}[n - RUN0] = k;",
                "}",
            ]
        else:
            rec += [
                f"if ((n + 1) % SE{m} == 0) {{",
                f"    const double *Yp = (const double *)P[SP{m}];",
                f"    const int64_t Np = SNP{m};",
                f"    double *dst = SB{m} + SC{m}[0]*SNV{m}*SNX{m};",
                f"    for (int64_t v = 0; v < SNV{m}; ++v)",
                f"        for (int64_t q = 0; q < SNX{m}; ++q)",
                f"            dst[v*SNX{m} + q] = Yp[SR{m}[v]*Np + SX{m}[q]];",
                f"    SC{m}[0]++;",
                "}",
            ]
    return check, rec


def vector_math() -> bool:
    """Whether populations use :mod:`biosnn.network._vmath`'s exp/expm1 (vectorisable)
    instead of libm's: only when the NumPy engine does too (its flag ``VECTOR_MATH``), so
    that both engines keep the same bits.
    """
    from biosnn.network import _npengine

    return bool(getattr(_npengine, "VECTOR_MATH", False))


def _respelled(snip: dict) -> dict:
    """A population's snippets with exp/expm1/bs_xexpm1 calls -> _vmath's (C side)."""
    from biosnn.network._vmath import respell_c

    out = dict(snip)
    out["update"] = dict(snip["update"], c=[respell_c(ln) for ln in snip["update"]["c"]])
    out["reset"] = dict(snip["reset"], c=[respell_c(ln) for ln in snip["reset"]["c"]])
    for key in ("threshold", "refcond"):
        if snip.get(key) is not None:
            out[key] = dict(snip[key], c=respell_c(snip[key]["c"]))
    return out


def generate(st: dict, snippets: dict) -> str:
    """The C source of a network structure and its snippets: its translation units
    (:func:`generate_units`) one after the other, each headed by a comment naming it.
    """
    units = generate_units(st, snippets)
    return "".join(f"/* ---- unit {name} ---- */\n{text}" for name, text in units)


def _prelude(snippets: dict) -> list:
    """What every unit of a network includes: headers, biosnn's exp/expm1 (when vector
    math is on), the safe functions, the normal and uniform draws, the spike compaction.
    Static (inline) functions: a unit that does not call one does not compile it.
    """
    out = [
        "/* generated by biosnn.network._cengine - do not edit */",
        "#include <math.h>",
        "#include <stdint.h>",
        "#include <stdlib.h>",
        "#include <string.h>",
        "#if defined(_OPENMP)",
        "#include <omp.h>",
        "#endif",
    ]
    if vector_math():
        from biosnn.network import _vmath

        out.append(_vmath.C_SOURCE)
    if "bs_xexpm1" in json.dumps(snippets):
        from biosnn.codegen.functions import C_PRELUDE

        out.append(C_PRELUDE)
    from biosnn.codegen.c_runtime import runtime_text

    # the runtime's noise header, the one C text of biosnn's random numbers (single models
    # and networks; tests/codegen/test_c_runtime.py checks it against solvers/noise.py)
    out.append(runtime_text("bs_noise.h"))
    out.append("""static inline double bsn_uniform(uint64_t key, uint64_t step, uint64_t stream) {
    uint64_t x = key ^ (step * 0xD1B54A32D192ED03ULL) ^ (stream * 0x8CB92BA72F3D8DD7ULL);
    return ((double)(bs_mix64(x) >> 11) + 1.0) * 0x1.0p-53;
}""")
    out.append(_COMPACT)
    return out


def generate_units(st: dict, snippets: dict) -> list:
    """The translation units of a network: ``[(name, C text), ...]``.

    One unit ``pop<k>`` per population that is not 'exact' (its ``bsn_update<k>``: the
    large vectorised loop, whose text depends only on the population's model, method and
    array parameters) and one unit ``net`` with everything else (exact populations, the
    step loop ``bsn_run``, sources, synapses, monitors).  Each unit is compiled to an
    object cached by the hash of its text (:mod:`biosnn.network._units`), so an equation
    change recompiles only the units whose text it changes.
    """
    ptr, ints = layout(st)
    npop = len(st["pops"])
    if vector_math():
        snippets = dict(snippets, pops=[_respelled(sn) for sn in snippets["pops"]])
    prelude = _prelude(snippets)
    units, out = [], list(prelude)
    for k, pop in enumerate(st["pops"]):
        fn = _pop_function(k, pop, snippets["pops"][k])
        if pop["method"] == "exact":
            out += fn  # small: stays static in the main unit
            continue
        # its own unit: a global (hidden) function, declared in the main unit
        decl = fn[1].replace("static void", _EXTERN, 1)
        units.append((f"pop{k}", "\n".join([*prelude, fn[0], decl, *fn[2:]]) + "\n"))
        out.append(decl[:-2] + ";")
    B = ["const double dt = D[0];", "const uint64_t key = (uint64_t)I[0]; (void)key;"]
    B.append("const double sdt = sqrt(dt); (void)sdt;")
    for s, name in enumerate(ptr):
        B.append(
            f"{_TYPES[_prefix(name)]} *restrict {name} = ({_TYPES[_prefix(name)]} *)P[{s}]; "
            f"(void){name};"
        )
    for s, name in enumerate(ints):
        if name != "key":
            B.append(f"const int64_t {name} = I[{s}]; (void){name};")
    check, rec = _monitors(st)
    L = [
        "for (int64_t n = step0; n < step0 + nsteps; ++n) {",
        "    if (*(volatile const int64_t *)(done + 1)) { *done = n - step0; return 2; }",
    ]
    L += _indent(check, 1)
    L.append("    const double tn = (double)n*dt;")
    L += _indent(_driven(st), 1)
    L += _indent(_summed_and_clock(st, snippets), 1)
    for k, pop in enumerate(st["pops"]):
        L += _indent(_pop_update(k, pop, snippets["pops"][k], k), 1)
    L += _indent(_sources(st, npop), 1)
    L += _indent(_stamp_spikes(st, snippets), 1)
    for g, syn in enumerate(st["syns"]):
        L += _indent(_deliver(g, syn, snippets["syns"][g], st), 1)
    L += _indent(_post_deliveries(st, snippets), 1)
    for k, pop in enumerate(st["pops"]):
        L += _indent(_pop_reset(k, pop, snippets["pops"][k], k), 1)
    L += _indent(rec, 1)
    L.append("}")
    B += L + ["*done = nsteps;", "return 0;"]
    out.append(
        "int bsn_run(void **P, const int64_t *I, const double *D, int64_t step0, "
        "int64_t nsteps, int64_t *done) {"
    )
    out += _indent(B, 1)
    out.append("}")
    return [("net", "\n".join(out) + "\n"), *units]


#: A population function compiled in its own unit: visible to the main unit only (not
#: exported from the library).
_EXTERN = '__attribute__((visibility("hidden"))) void'


# -- build and cache ----------------------------------------------------------------------
def _flags(compiler) -> tuple:
    from biosnn.codegen import c_build

    omp = ("-fopenmp",) if c_build.openmp_available(compiler) else ("-fopenmp-simd",)
    return FLAGS + omp


def _refs(net_key: str, compiler):
    """The two refs of a network library in the cache: ``net-<h>.lib`` names the library
    blob, ``net-<h>.snip`` the snippets blob (JSON); ``h`` hashes the network key (which
    includes the package key), the compiler identity, the flags, the CPU and whether
    vector math is on.
    """
    from biosnn.codegen import c_build

    h = hashlib.sha256(
        "\0".join(
            [net_key, compiler.identity, " ".join(_flags(compiler)), _cpu_id(), str(vector_math())]
        ).encode()
    ).hexdigest()
    d = c_build.cache_dir()
    return d / f"net-{h}.lib", d / f"net-{h}.snip"


def _warm(lib_ref: Path, snip_ref: Path):
    """``(library path, snippets)`` from the cache, both hash-checked, or None."""
    from biosnn import cache
    from biosnn.codegen import c_build

    folder = lib_ref.parent
    lib = c_build._verified(folder, cache.read_ref(lib_ref))
    digest = cache.read_ref(snip_ref)
    data = cache.read_blob(folder, digest, ".json") if digest else None
    if lib is None or data is None:
        return None
    try:
        snippets = json.loads(data)
    except ValueError:
        return None
    return (lib, snippets) if isinstance(snippets, dict) else None


def _compile(units: list, source: str, compiler) -> tuple[Path, list]:
    """Compile a network's units into the cache (:func:`biosnn.network._units.build`):
    ``(library path, names of the units compiled)``.
    """
    from biosnn.network import _units

    try:
        return _units.build(compiler, _flags(compiler), _cpu_id(), units, source)
    except CompilerError as exc:
        raise CompilerError(f"C compilation of the network failed: {str(exc)[:4000]}") from None


class CEngine:
    """Runs a network with its compiled library (see the module docstring)."""

    name = "c"

    def __init__(self, net):
        from biosnn.codegen import c_build

        compiler = c_build.find_compiler()
        if compiler is None:
            raise CompilerError("no C compiler found (set CC or install gcc/clang).")
        self.net = net
        self.structure = net.structure()
        lib_ref, snip_ref = _refs(net.key(), compiler)
        found = _cached(net.key(), compiler)
        self.warm = found is not None
        #: names of the translation units compiled for this engine (none when warm)
        self.compiled_units = []
        if self.warm:
            lib, self.snippets = found
        else:
            from biosnn import cache

            self.snippets = net.snippets()
            units = generate_units(self.structure, self.snippets)
            self.source = "".join(f"/* ---- unit {n} ---- */\n{t}" for n, t in units)
            lib, self.compiled_units = _compile(units, self.source, compiler)
            digest = cache.put_blob(lib.parent, json.dumps(self.snippets).encode(), ".json")
            cache.write_ref(snip_ref, digest)
            cache.write_ref(lib_ref, lib.stem)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when libgomp loads
        self.lib = c_build.load_library(lib)
        self.fn = self.lib.bsn_run
        self.fn.restype = ctypes.c_int
        self.fn.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
        ]
        self.ptr_names, self.int_names = layout(self.structure)

    # -- run ------------------------------------------------------------------------------
    def begin_run(self, nsteps):
        from biosnn.network._npengine import _rate_table, driven_table
        from biosnn.solvers import noise

        net = self.net
        self.step0, self.nsteps = net.step, nsteps
        self.buf = {}
        for j, src in enumerate(net.sources):
            kind = self.structure["sources"][j]["kind"]
            if kind in ("poisson_table", "poisson_neuron"):
                self.buf[f"PT{j}"] = _rate_table(
                    src, net.step, nsteps, net.dt, per_neuron=kind == "poisson_neuron"
                )
        for k, pop in enumerate(net.populations):
            if net.pop_meta[k]["driven"]:
                self.buf[f"DT{k}"] = driven_table(
                    pop, net.pop_meta[k]["driven"], net.step, nsteps, net.dt
                )
        for m, mon in enumerate(net.monitors):
            kind = self.structure["mons"][m]["kind"]
            if kind == "spike":
                cap = max(1024, 4 * mon.source.n)
                self.buf[f"BI{m}"] = np.zeros(cap, np.int32)
                self.buf[f"BS{m}"] = np.zeros(cap, np.int64)
                self.buf[f"BN{m}"] = np.array([0, cap], np.int64)
                mask = np.zeros(mon.source.n, np.uint8)
                if mon.indices is not None:
                    mask[mon.indices] = 1
                self.buf[f"BK{m}"] = mask
            elif kind == "rate":
                check_memory(
                    8 * nsteps,
                    f"the RateMonitor of {mon.source.name}",
                    "give it a bin and run shorter pieces",
                )
                self.buf[f"RC{m}"] = np.zeros(max(nsteps, 1), np.int64)
            else:
                nrec = (net.step + nsteps) // mon.every - net.step // mon.every
                _check_memory(nrec * len(mon.variables) * mon.indices.size * 8, mon)
                self.buf[f"SB{m}"] = np.zeros((max(nrec, 1), len(mon.variables), mon.indices.size))
                self.buf[f"SX{m}"] = (mon.indices + mon.population.offset).astype(np.int64)
                model = mon.population.model
                self.buf[f"SR{m}"] = np.array(
                    [model.states.index(v) for v in mon.variables], np.int64
                )
                self.buf[f"SC{m}"] = np.zeros(1, np.int64)
        self.key = int(noise.seed_key(net.seed))
        self._ints()

    def _ints(self):
        net, A = self.net, self.net.arrays
        vals = {
            "key": self.key - (1 << 64) if self.key >= (1 << 63) else self.key,
            "RUN0": self.step0,
        }
        for k, pop in enumerate(net.populations):
            vals[f"N{k}"] = pop.n
        for r, root in enumerate(net.roots):
            vals[f"NR{r}"] = root.n
            vals[f"H{r}"] = net.depth[r]
        for j, src in enumerate(net.sources):
            if self.structure["sources"][j]["kind"] == "gen":
                vals[f"NG{j}"] = A[f"GS{j}"].size
            else:
                vals[f"ST{j}"] = src._stream
        for g, syn in enumerate(net.synapses):
            vals[f"OFF{g}"] = syn.pre.offset
            vals[f"NPRE{g}"] = syn.pre.n
            vals[f"D{g}"] = net.syn_meta[g]["delay"]
            vals[f"NSYN{g}"] = A[f"PO{g}"].size
        for m, mon in enumerate(net.monitors):
            kind = self.structure["mons"][m]["kind"]
            if kind in ("spike", "rate"):
                vals[f"MO{m}"] = mon.source.offset
                vals[f"MNS{m}"] = mon.source.n
            else:
                k = net.populations.index(mon.population.root)
                vals[f"SP{m}"] = self.ptr_names.index(f"Y{k}")
                vals[f"SNX{m}"] = mon.indices.size
                vals[f"SNV{m}"] = len(mon.variables)
                vals[f"SE{m}"] = mon.every
                vals[f"SNP{m}"] = mon.population.root.n
        vals.update(_extra_ints(net))
        self.I = np.array([vals[nm] for nm in self.int_names], np.int64)

    def _pointers(self):
        A = self.net.arrays
        ptrs = []
        for name in self.ptr_names:
            arr = self.buf.get(name)
            if arr is None:
                arr = A.get(name)
            if arr is None:
                arr = _DUMMY.setdefault(name[:2], np.zeros(1))
            ptrs.append(arr.ctypes.data)
        return (ctypes.c_void_p * len(ptrs))(*ptrs)

    def run_steps(self, count):
        net = self.net
        A = net.arrays
        for k, pop in enumerate(net.populations):
            A.setdefault(f"SF{k}", np.zeros(pop.n, np.uint8))
        D = np.array([net.dt])
        done = np.zeros(2, np.int64)  # [steps made (out), stop flag (in)]
        start, left = net.step, count
        from biosnn import _interrupt

        while True:
            ptrs = self._pointers()
            status = _interrupt.call(
                lambda: self.fn(
                    ptrs, self.I.ctypes.data, D.ctypes.data, start, left, done.ctypes.data
                ),
                done[1:],
            )
            start += int(done[0])
            left -= int(done[0])
            if status == 0:
                break
            self._flush_spikes(grow=True)
        self._flush_spikes(grow=False)

    def _flush_spikes(self, grow):
        for m, mon in enumerate(self.net.monitors):
            if self.structure["mons"][m]["kind"] != "spike":
                continue
            BN = self.buf[f"BN{m}"]
            c = int(BN[0])
            if c:
                mon._append(self.buf[f"BI{m}"][:c].copy(), self.buf[f"BS{m}"][:c].copy())
            BN[0] = 0

    def end_run(self):
        net = self.net
        for m, mon in enumerate(net.monitors):
            kind = self.structure["mons"][m]["kind"]
            if kind == "rate":
                mon._counts.append(self.buf[f"RC{m}"][: self.nsteps].copy())
            elif kind == "state":
                c = int(self.buf[f"SC{m}"][0])
                data = self.buf[f"SB{m}"][:c]
                mon._data.append(np.ascontiguousarray(data.transpose(1, 2, 0)))
                first = (self.step0 // mon.every + 1) * mon.every
                mon._steps.append(first + mon.every * np.arange(c, dtype=np.int64))


_DUMMY: dict = {}


# -- on_post, event-driven, clock-driven and summed synapses; noise (see docs/network.md) --
def _extra_slots(g, syn) -> tuple[list, list]:
    """Extra (pointer, integer) slots of synapse group g."""
    ptr, ints = [], []
    if syn.get("event"):
        ptr.append(f"LU{g}")
    if syn.get("on_post") or syn.get("clock") or syn.get("summed"):
        ptr.append(f"PI{g}")
    if syn.get("on_post"):
        ptr += [f"BP{g}", f"BX{g}"]
    if syn.get("on_post") or syn.get("summed"):
        ints += [f"POFF{g}", f"NPOST{g}"]
    return ptr, ints


def _extra_ints(net) -> dict:
    vals = {}
    for k, pop in enumerate(net.populations):
        if pop.model.noises:
            vals[f"NS{k}"] = net.pop_meta[k]["noise_stream"]
    for g, syn in enumerate(net.synapses):
        vals[f"POFF{g}"] = syn.post.offset
        vals[f"NPOST{g}"] = syn.post.n
    return vals


def _noise_defs(k, pop) -> list:
    """dW_q = sqrt(dt)*z(key, step, stream) for neuron j of population k."""
    nn = pop.get("noises", 0)
    return [
        f"const double dW_{q} = sdt*bs_normal(key, (uint64_t)n, (uint64_t)(NS{k} + j*{nn} + {q}));"
        for q in range(nn)
    ]


def _noise_params(k, pop) -> str:
    """Extra parameters of ``bsn_update{k}`` for a population with white noise."""
    return (
        f", const uint64_t key, const int64_t n, const int64_t NS{k}, const double sdt"
        if pop.get("noises")
        else ""
    )


def _noise_args(k, pop) -> str:
    return f", key, n, NS{k}, sdt" if pop.get("noises") else ""


def _event_advance(g, snip) -> list:
    """Advance the event-driven variables of synapse s from LU[s] to tt."""
    ev = snip.get("event")
    if not ev:
        return []
    return (
        ["{", f"    const double dl_ = tt - LU{g}[s];"]
        + _indent(ev["c"], 1)
        + [f"    LU{g}[s] = tt;", "}"]
    )


def _group_defs(g, syn, st) -> list:
    L = [f"    double *sv{k} = SV{g} + {k}*NSYN{g}; (void)sv{k};" for k in range(len(syn["svars"]))]
    L += [f"    const double q{k} = QS{g}[{k}]; (void)q{k};" for k in range(len(syn["shared"]))]
    L += _indent(_side_defs("post", syn["post"], st["pops"][syn["post"]]), 1)
    if syn["pre_pop"] is not None:
        L += _indent(_side_defs("pre", syn["pre_pop"], st["pops"][syn["pre_pop"]]), 1)
    return L


def _post_deliveries(st, snippets) -> list:
    """on_post of every group (after all on_pre), for the post spikes of this step."""
    L = []
    for g, syn in enumerate(st["syns"]):
        snip = snippets["syns"][g]
        if not snip.get("on_post"):
            continue
        r = syn["post"]
        L += [f"/* synapses {g}: on_post */", "{", "    const double tt = tn + dt; (void)tt;"]
        L += _group_defs(g, syn, st)
        body = _event_advance(g, snip) + [x["c"] for x in snip["on_post"]["list"]]
        L += [
            f"    const int32_t *sp = HS{r} + (n % H{r})*NR{r};",
            f"    const int64_t cnt = HN{r}[n % H{r}];",
            "    for (int64_t c = 0; c < cnt; ++c) {",
            f"        const int64_t jl = sp[c] - POFF{g};",
            f"        if (jl < 0 || jl >= NPOST{g}) continue;",
            f"        for (int64_t b = BP{g}[jl]; b < BP{g}[jl + 1]; ++b) {{",
            f"            const int64_t s = BX{g}[b];",
            f"            const int64_t j = PO{g}[s]; (void)j;",
            f"            const int64_t ip = PI{g}[s]; (void)ip;",
        ]
        L += _indent(body, 3) + ["        }", "    }", "}"]
    return L


def _driven(st) -> list:
    """Start of a step: copy this step's row of each time-driven parameter's table
    (``DT<k>``, shape (steps of the run, driven, N), see _npengine.driven_table) into
    its row of ``PA<k>``.
    """
    L = []
    for k, pop in enumerate(st["pops"]):
        nd = len(pop.get("driven", ()))
        for d, name in enumerate(pop.get("driven", ())):
            a = pop["array_params"].index(name)
            L.append(
                f"memcpy((double *)PA{k} + {a}*N{k}, DT{k} + ((n - RUN0)*{nd} + {d})*N{k}, "
                f"(size_t)N{k}*sizeof(double));"
            )
    return L


def _summed_and_clock(st, snippets) -> list:
    """Start of a step: zero the summed targets, add every group's terms (synapse order),
    then advance the clock-driven synapse variables (all from the start-of-step state).
    """
    L = []
    for g, syn in enumerate(st["syns"]):
        k = syn["post"]
        for name in syn.get("summed", []):
            a = st["pops"][k]["array_params"].index(name)
            L += [
                f"for (int64_t j = POFF{g}; j < POFF{g} + NPOST{g}; ++j) "
                f"((double *)PA{k})[{a}*N{k} + j] = 0.0;"
            ]
    for what in ("summed", "clock"):
        for g, syn in enumerate(st["syns"]):
            snip = snippets["syns"][g].get(what)
            if not snip:
                continue
            k = syn["post"]
            L += [f"/* synapses {g}: {what} */", "{", "    const double tt = tn; (void)tt;"]
            L += _group_defs(g, syn, st)
            if what == "summed":
                for m, name in enumerate(syn["summed"]):
                    a = st["pops"][k]["array_params"].index(name)
                    L.append(f"    double *tg{m} = (double *)PA{k} + {a}*N{k};")
                tail = [f"tg{m}[j] = tg{m}[j] + sm_{m};" for m in range(len(syn["summed"]))]
            else:
                tail = [f"sv{q}[s] = cn_{q};" for q in snip["targets"]]
            L += [
                f"    for (int64_t s = 0; s < NSYN{g}; ++s) {{",
                f"        const int64_t j = PO{g}[s]; (void)j;",
                f"        const int64_t ip = PI{g}[s]; (void)ip;",
            ]
            L += _indent(snip["c"] + tail, 2) + ["    }", "}"]
    return L


def _stamp_spikes(st, snippets) -> list:
    """Lastspike (and the refractory flag) of this step's spikes, before the deliveries,
    for the populations whose ``lastspike``/``not_refractory`` synapse statements read
    (docs/network.md, "Refractoriness in synapses"); the resets write the same values.
    """
    pops = sorted(
        {
            k
            for sn in snippets["syns"]
            for what in ("on_pre", "on_post")
            if sn.get(what)
            for k in sn[what].get("spike_pops", ())
        }
    )
    L = []
    for k in pops:
        flag = [f"        RF{k}[sp[c]] = 1;"] if snippets["pops"][k]["refcond"] else []
        L += (
            [
                "{",
                f"    const int32_t *sp = HS{k} + (n % H{k})*NR{k};",
                f"    for (int64_t c = 0; c < HN{k}[n % H{k}]; ++c) {{",
                f"        LS{k}[sp[c]] = tn + dt;",
            ]
            + flag
            + ["    }", "}"]
        )
    return L


def _check_memory(nbytes: int, mon) -> None:
    """Refuse a monitor buffer larger than the memory available now."""
    check_memory(
        nbytes,
        f"the StateMonitor of {mon.population.name}",
        "record fewer neurons or variables, use every=k, or run shorter pieces",
    )
