"""The NumPy engine of a network: the step loop in Python, vectorised over neurons and
synapses, executing the same snippets as the C engine (see :mod:`biosnn.network._lower`).

Per step n (t_n = n*dt), as docs/network.md says: populations (update, refractoriness,
threshold), Poisson sources and generators, synapse delivery in the order given, resets,
monitors.
"""

from __future__ import annotations

import linecache

import numpy as np

from biosnn.network.objects import check_memory
from biosnn.solvers import noise

__all__ = ["NumpyEngine", "drift_function", "param_namespace"]

_UFUNC = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.divide}


def param_namespace(PS, PA, array_params, params, idx=None) -> dict:
    ns = {}
    for k, p in enumerate(params):
        if p in array_params:
            row = PA[list(array_params).index(p)]
            ns[f"P_{k}"] = row if idx is None else row[idx]
        else:
            ns[f"P_{k}"] = PS[k]
    return ns


#: Populations and synapses compute exp/expm1/x/expm1(x) with biosnn.network._vmath (the
#: same operations as the C engine's vectorised versions) instead of NumPy's/libm's; the C
#: engine reads this flag, so the two engines always agree bit for bit.
VECTOR_MATH = True


def _compile(source: str, name: str) -> dict:
    filename = f"<biosnn-network-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS
    from biosnn.network._vmath import NAMESPACE

    ns = {"_np": np, "_normal": noise.normal, **NUMPY_FUNCTIONS, **NAMESPACE}
    exec(compile(source, filename, "exec"), ns)  # noqa: S102 - generated from sympy trees
    return ns


def drift_function(snip, ns: int, n_params: int, array_params, params):
    """f(y (ns, m), PS, row of array params) -> (ns, m): the population's drift at t = 0."""
    lines = ["def drift(Y, PS, ROW):", "    tt = 0.0"]
    lines += [f"    y_{i} = Y[{i}]" for i in range(ns)]
    for k, p in enumerate(params):
        if p in array_params:
            lines.append(f"    P_{k} = ROW[{list(array_params).index(p)}]")
        else:
            lines.append(f"    P_{k} = PS[{k}]")
    lines += ["    " + ln for ln in snip["drift"]["py"]]
    lines.append(
        "    return _np.array(["
        + ", ".join(f"_np.broadcast_to(k0_{i}, Y[0].shape)" for i in range(ns))
        + "], dtype=float)"
    )
    return _compile("\n".join(lines) + "\n", "drift")["drift"]


def _pop_source(k: int, pop, meta, snip) -> str:
    m = pop.model
    ns, params, arr = len(m.states), list(m.params), meta["array_params"]
    L = [
        "def update(A, tn, dt, n=0, key=0):",
        f"    Y = A['Y{k}']; PS = A['PS{k}']; PA = A['PA{k}']; LS = A['LS{k}']",
        f"    AB = A['AB{k}']; RF = A['RF{k}']; RT = A['RT{k}']",
    ]
    L += [f"    y_{i} = Y[{i}]" for i in range(ns)]
    for kk, p in enumerate(params):
        L.append(f"    P_{kk} = PA[{arr.index(p)}]" if p in arr else f"    P_{kk} = PS[{kk}]")
    if pop.method == "exact":
        L.append(
            f"    M = A['MP{k}'][0]"
            if not arr
            else f"    M = A['MP{k}'][A['MI{k}']].transpose(1, 2, 0)"
        )
    L.append("    tt = tn")
    nn = snip.get("noises", 0)
    if nn:  # dW = sqrt(dt)*z(key, step, stream): the same numbers as the C engine
        L.append(
            f"    _st = _np.uint64({meta['noise_stream']}) + _np.arange(Y.shape[1], "
            f"dtype=_np.uint64)*_np.uint64({nn})"
        )
        L.append("    sdt = _np.sqrt(dt)")
        L += [f"    dW_{q} = sdt*_normal(key, n, _st + _np.uint64({q}))" for q in range(nn)]
    L += ["    " + ln for ln in snip["update"]["py"]]
    if snip["refcond"] is not None:
        L.append("    ref = RF != 0")
    elif snip["reftime"] is not None:
        L.append("    ref = tn + 0.5*dt < LS + RT")
    else:
        L.append("    ref = False")
    for i, held in enumerate(snip["held"]):
        if held and (snip["refcond"] is not None or snip["reftime"] is not None):
            L.append(f"    yn_{i} = _np.where(ref, y_{i}, yn_{i})")
    for i in range(ns):
        L.append(f"    Y[{i}] = yn_{i}")
        L.append(f"    y_{i} = Y[{i}]")
    if snip["threshold"] is None:
        L.append("    return None")
    else:
        L.append(f"    c1 = _np.broadcast_to({snip['threshold']['py']}, Y[0].shape)")
        prev = "" if snip.get("level") else " & (AB == 0)"  # threshold rule: network.md
        L.append(f"    spike = c1{prev} & ~_np.broadcast_to(ref, Y[0].shape)")
        if not snip.get("level"):  # the level rule never reads the previous check
            L.append("    AB[:] = c1")
        L.append("    return _np.flatnonzero(spike)")
    # reset of the neurons that spiked
    L += [
        "",
        "def reset(A, idx, tn, dt):",
        f"    Y = A['Y{k}']; PS = A['PS{k}']; PA = A['PA{k}']",
        "    tt = tn + dt",
    ]
    L += [f"    y_{i} = Y[{i}, idx]" for i in range(ns)]
    for kk, p in enumerate(params):
        L.append(f"    P_{kk} = PA[{arr.index(p)}, idx]" if p in arr else f"    P_{kk} = PS[{kk}]")
    L += ["    " + ln for ln in snip["reset"]["py"]]
    L += [f"    Y[{i}, idx] = y_{i}" for i in range(ns)]
    L.append(f"    A['LS{k}'][idx] = tn + dt")
    if snip["threshold"] is not None:
        L.append(f"    A['AB{k}'][idx] = _np.broadcast_to({snip['threshold']['py']}, idx.shape)")
    if snip["refcond"] is not None:
        L.append(f"    A['RF{k}'][idx] = 1")
    L += ["", "def refcheck(A, tn, dt):"]
    if snip["refcond"] is None:
        L.append("    return")
    else:
        L += [
            f"    Y = A['Y{k}']; PS = A['PS{k}']; PA = A['PA{k}']; RF = A['RF{k}']",
            "    idx = _np.flatnonzero(RF)",
            "    tt = tn + dt",
        ]
        L += [f"    y_{i} = Y[{i}, idx]" for i in range(ns)]
        for kk, p in enumerate(params):
            L.append(
                f"    P_{kk} = PA[{arr.index(p)}, idx]" if p in arr else f"    P_{kk} = PS[{kk}]"
            )
        L.append(f"    RF[idx] = _np.broadcast_to({snip['refcond']['py']}, idx.shape)")
    return "\n".join(L) + "\n"


def _ranges(starts, ends):
    """Concatenation of arange(starts[i], ends[i]) (vectorised)."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), lengths
    offs = np.cumsum(lengths) - lengths
    return (np.arange(total) - np.repeat(offs, lengths) + np.repeat(starts, lengths)), lengths


def _vmath_namespace() -> dict:
    from biosnn.network._vmath import NAMESPACE

    return NAMESPACE


class NumpyEngine:
    name = "numpy"

    def __init__(self, net):
        self.net = net
        self.snippets = net.snippets()
        self.pop_fns = []
        for k, pop in enumerate(net.populations):
            src = _pop_source(k, pop, net.pop_meta[k], self.snippets["pops"][k])
            if VECTOR_MATH:  # populations only, as the C engine (_cengine._respelled)
                from biosnn.network._vmath import respell_py

                src = respell_py(src)
            self.pop_fns.append(_compile(src, f"pop{k}"))
        self.syn_fns, self.post_fns, self.extra = [], [], []
        self.stamped = set()  # populations whose lastspike/refractoriness synapses read
        for g, _syn in enumerate(net.synapses):
            snip = self.snippets["syns"][g]
            roots = {"pre": net.syn_meta[g]["root"], "post": net.populations.index(_syn.post.root)}
            for what, fns in (("on_pre", self.syn_fns), ("on_post", self.post_fns)):
                entry = snip.get(what)
                if entry is None:
                    fns.append(None)
                    continue
                code = [compile(st["py"], f"<{what} {g}>", "eval") for st in entry["list"]]
                fns.append((entry, code, order_sides(entry, roots)))
                self.stamped.update(entry.get("spike_pops", ()))
            extra = {}
            for what in ("event", "clock", "summed"):
                if snip.get(what):
                    extra[what] = (
                        snip[what],
                        compile("\n".join(snip[what]["py"]) + "\n", f"<{what} {g}>", "exec"),
                    )
            self.extra.append(extra)
        self.key = noise.seed_key(net.seed)

    # -- run ------------------------------------------------------------------------------
    def begin_run(self, nsteps):
        net = self.net
        self.step0 = net.step
        self.tables = {}
        for j, src in enumerate(net.sources):
            kind = net.source_kinds[j]
            if kind in ("poisson_table", "poisson_neuron"):
                self.tables[j] = _rate_table(
                    src, net.step, nsteps, net.dt, per_neuron=kind == "poisson_neuron"
                )
        self.driven = {
            k: driven_table(pop, net.pop_meta[k]["driven"], net.step, nsteps, net.dt)
            for k, pop in enumerate(net.populations)
            if net.pop_meta[k]["driven"]
        }
        self.rate_counts = {id(m): [] for m in net.monitors if hasattr(m, "_counts")}
        for m in net.monitors:
            if hasattr(m, "_counts"):
                check_memory(
                    8 * nsteps,
                    f"the RateMonitor of {m.source.name}",
                    "give it a bin and run shorter pieces",
                )

    def end_run(self):
        for m in self.net.monitors:
            if hasattr(m, "_counts"):
                m._counts.append(np.array(self.rate_counts[id(m)], np.int64))

    def run_steps(self, count):
        net = self.net
        A = net.arrays
        dt = net.dt
        npop = len(net.populations)
        for n in range(net.step, net.step + count):
            tn = n * dt
            spikes = []
            for k, table in self.driven.items():  # this step's row (see driven_table)
                arr = net.pop_meta[k]["array_params"]
                for d, name in enumerate(net.pop_meta[k]["driven"]):
                    A[f"PA{k}"][arr.index(name)] = table[n - self.step0, d]
            with np.errstate(all="ignore"):
                self._summed_and_clock(tn, dt)
                for k in range(npop):
                    s = self.pop_fns[k]["update"](A, tn, dt, n, self.key)
                    spikes.append(np.zeros(0, np.int64) if s is None else s)
            for j, src in enumerate(net.sources):
                if hasattr(src, "indices"):
                    GS, GI, GP = A[f"GS{j}"], A[f"GI{j}"], A[f"GP{j}"]
                    p0 = int(GP[0])
                    p1 = int(np.searchsorted(GS, n, side="right"))
                    spikes.append(GI[p0:p1].astype(np.int64))
                    GP[0] = p1
                else:
                    p = A[f"PR{j}"] if j not in self.tables else self.tables[j][n - self.step0]
                    u = noise.uniform_pair(self.key, n, src._stream + np.arange(src.n))[0]
                    spikes.append(np.flatnonzero(u < p))
            for r, s in enumerate(spikes):
                H = net.depth[r]
                A[f"HS{r}"][n % H, : s.size] = s
                A[f"HN{r}"][n % H] = s.size
            for k in sorted(self.stamped):  # a spike of this step counts at once
                A[f"LS{k}"][spikes[k]] = tn + dt
                if self.snippets["pops"][k]["refcond"] is not None:
                    A[f"RF{k}"][spikes[k]] = 1
            with np.errstate(all="ignore"):
                for g in range(len(net.synapses)):
                    if self.syn_fns[g] is not None:
                        self._deliver(g, n, tn, dt)
                for g in range(len(net.synapses)):  # on_post after every on_pre
                    if self.post_fns[g] is not None:
                        self._deliver_post(g, n, tn, dt)
                for k in range(npop):
                    fns = self.pop_fns[k]
                    if spikes[k].size:
                        fns["reset"](A, spikes[k], tn, dt)
                    fns["refcheck"](A, tn, dt)
            self._monitor(n, spikes)

    def _spikers(self, r, step):
        A, H = self.net.arrays, self.net.depth[r]
        if step < 0:
            return np.zeros(0, np.int64)
        c = int(A[f"HN{r}"][step % H])
        return A[f"HS{r}"][step % H, :c].astype(np.int64)

    def _deliver(self, g, n, tn, dt):
        net, A = self.net, self.net.arrays
        syn = net.synapses[g]
        meta = net.syn_meta[g]
        entry, code, rounds = self.syn_fns[g]
        off, npre = syn.pre.offset, syn.pre.n
        ids, ips = [], []
        lags = range(meta["delay"], -1, -1) if meta["hetero"] else [meta["delay"]]
        D = meta["delay"]
        for lag in lags:
            sp = self._spikers(meta["root"], n - lag)
            sp = sp[(sp >= off) & (sp < off + npre)] - off
            if not sp.size:
                continue
            if meta["hetero"]:
                dp = A[f"DP{g}"]
                s, lengths = _ranges(dp[sp * (D + 2) + lag], dp[sp * (D + 2) + lag + 1])
            else:
                ip = A[f"IP{g}"]
                s, lengths = _ranges(ip[sp], ip[sp + 1])
            ids.append(s)
            ips.append(np.repeat(sp + off, lengths))
        if not ids:
            return
        s = np.concatenate(ids)
        if not s.size:
            return
        ip = np.concatenate(ips)
        j = A[f"PO{g}"][s].astype(np.int64)
        ns = self._syn_namespace(g, syn, meta)
        ns["tt"] = tn + dt
        self._apply_rounds(entry, code, rounds, ns, s, j, ip, g, syn)

    def _apply_rounds(self, entry, code, rounds, ns, s, j, ip, g, syn):
        """Apply statements to the synapses ``s`` with the result of running them synapse
        by synapse in this order (sequential semantics, docs/network.md).

        ``rounds``: None when vectorising the whole delivery gives that result, else the
        roots ``{"j": root, "ip": root}`` whose neurons order the synapses: the delivery
        is split into rounds (:func:`sequential_rounds`) in which no two synapses touch
        the same neuron of a population the statements write.
        """
        if not rounds:
            self._apply(entry, code, ns, s, j, ip, g, syn)
            return
        keys = np.stack(
            [(np.int64(root) << 32) + (j if side == "j" else ip) for side, root in rounds.items()],
            axis=1,
        )
        for sel in sequential_rounds(keys):
            self._apply(entry, code, ns, s[sel], j[sel], ip[sel], g, syn)

    def _deliver_post(self, g, n, tn, dt):
        """on_post of group g for the postsynaptic spikes of step n (no delay), post
        neuron by post neuron (increasing index), synapses in increasing index.
        """
        net, A = self.net, self.net.arrays
        syn = net.synapses[g]
        entry, code, rounds = self.post_fns[g]
        kpost = net.populations.index(syn.post.root)
        off = syn.post.offset
        sp = self._spikers(kpost, n)
        sp = sp[(sp >= off) & (sp < off + syn.post.n)] - off
        if not sp.size:
            return
        BP = A[f"BP{g}"]
        b, _ = _ranges(BP[sp], BP[sp + 1])
        if not b.size:
            return
        s = A[f"BX{g}"][b]
        j = A[f"PO{g}"][s].astype(np.int64)
        ip = A[f"PI{g}"][s].astype(np.int64)
        ns = self._syn_namespace(g, syn, net.syn_meta[g])
        ns["tt"] = tn + dt
        self._apply_rounds(entry, code, rounds, ns, s, j, ip, g, syn)

    def _summed_and_clock(self, tn, dt):
        """Start of a step: summed variables (all targets zeroed, then every group adds
        its terms in synapse order), then clock-driven synapse equations.
        """
        net, A = self.net, self.net.arrays
        groups = [g for g, ex in enumerate(self.extra) if "summed" in ex]
        for g in groups:
            syn = net.synapses[g]
            k = net.populations.index(syn.post.root)
            arr = net.pop_meta[k]["array_params"]
            for name in syn.summed:
                A[f"PA{k}"][arr.index(name), syn.post.offset : syn.post.offset + syn.post.n] = 0
        for g in groups:
            snip, code = self.extra[g]["summed"]
            syn = net.synapses[g]
            k = net.populations.index(syn.post.root)
            arr = net.pop_meta[k]["array_params"]
            ns = self._full_namespace(g, syn, tn)
            exec(code, ns)  # noqa: S102 - generated from sympy trees
            for m, name in enumerate(syn.summed):
                row = A[f"PA{k}"][arr.index(name)]
                np.add.at(row, ns["j"], np.broadcast_to(ns[f"sm_{m}"], ns["s"].shape))
        for g, ex in enumerate(self.extra):
            if "clock" not in ex:
                continue
            snip, code = ex["clock"]
            syn = net.synapses[g]
            ns = self._full_namespace(g, syn, tn)
            exec(code, ns)  # noqa: S102 - generated from sympy trees
            for k in snip["targets"]:
                ns[f"sv{k}"][:] = np.broadcast_to(ns[f"cn_{k}"], ns["s"].shape)

    def _full_namespace(self, g, syn, tn):
        A = self.net.arrays
        ns = self._syn_namespace(g, syn, self.net.syn_meta[g])
        ns["s"] = np.arange(A[f"PO{g}"].size)
        ns["j"] = A[f"PO{g}"].astype(np.int64)
        ns["ip"] = A[f"PI{g}"].astype(np.int64)
        ns["tt"], ns["dt"] = tn, self.net.dt
        return ns

    def _syn_namespace(self, g, syn, meta):
        A, net = self.net.arrays, self.net
        ns = {"_np": np, "dt": net.dt, **_vmath_namespace()}
        SV = A[f"SV{g}"]
        for k in range(len(meta["svars"])):
            ns[f"sv{k}"] = SV[k]
        for k, v in enumerate(A[f"QS{g}"][: len(meta["shared"])]):
            ns[f"q{k}"] = v
        kpost = net.populations.index(syn.post.root)
        self._side(ns, "post", kpost)
        if meta["root"] < len(net.populations):
            self._side(ns, "pre", meta["root"])
        return ns

    def _side(self, ns, side, k):
        A, net = self.net.arrays, self.net
        for what in ("LS", "RT", "RF"):  # lastspike_<side>, not_refractory_<side>
            ns[f"{what}{k}"] = A[f"{what}{k}"]
        Y = A[f"Y{k}"]
        for i in range(Y.shape[0]):
            ns[f"{side}_y{i}"] = Y[i]
        arr = net.pop_meta[k]["array_params"]
        for kk, p in enumerate(net.populations[k].model.params):
            ns[f"{side}_P{kk}"] = A[f"PA{k}"][arr.index(p)] if p in arr else A[f"PS{k}"][kk]

    def _apply(self, entry, code, ns, s, j, ip, g, syn):
        ns["s"], ns["j"], ns["ip"] = s, j, ip
        if "event" in self.extra[g]:  # advance event-driven variables to the event
            snip, ev = self.extra[g]["event"]
            LU = self.net.arrays[f"LU{g}"]
            ns["dl_"] = ns["tt"] - LU[s]
            exec(ev, ns)  # noqa: S102 - generated from sympy trees
            for k in snip["targets"]:
                ns[f"sv{k}"][s] = ns[f"ed_{k}"]
            LU[s] = ns["tt"]
        for st, c in zip(entry["list"], code):
            value = np.broadcast_to(eval(c, ns), s.shape)  # noqa: S307 - generated
            kind, idx, op = st["kind"], st["index"], st["op"]
            if kind == "syn":
                row = ns[f"sv{idx}"]
                row[s] = value if op == "=" else _UFUNC[op](row[s], value)
            else:
                row = ns[f"{kind}_y{idx}"]
                where = j if kind == "post" else ip
                if op == "=":
                    row[where] = value
                else:
                    _UFUNC[op].at(row, where, value)

    def _monitor(self, n, spikes):
        net = self.net
        for m in net.monitors:
            kind = type(m).__name__
            if kind == "StateMonitor":
                if (n + 1) % m.every == 0:
                    net._record_states(m, n + 1)
                continue
            r = net.root_index[id(m.source.root)]
            sp = spikes[r]
            off = m.source.offset
            sp = sp[(sp >= off) & (sp < off + m.source.n)] - off
            if kind == "RateMonitor":
                self.rate_counts[id(m)].append(sp.size)
                continue
            if m.indices is not None:
                sp = sp[np.isin(sp, m.indices)]
            if sp.size:
                m._append(sp.astype(np.int32), np.full(sp.size, n, np.int64))


def order_sides(entry, roots):
    """How the statements of a delivery must be ordered to give the sequential result.

    Sequential semantics (docs/network.md, "Order of synapse statements"): the statements
    run synapse by synapse, in delivery order, each seeing the writes of the synapses
    before it.  Vectorising them statement by statement over all synapses gives the same
    bits unless two synapses touch the same neuron of a population the statements write
    (``v_post += w*f(v_pre)`` in a recurrent group: one synapse writes neuron x through
    ``j``, another reads it through ``ip``).  The exception: a variable written by one
    statement only, by ``+=``/``-=`` (or ``*=``/``/=``), and read by none - ``ufunc.at``
    applies such updates in delivery order.

    Parameters
    ----------
    entry : dict
        Lowered statements (:func:`biosnn.network._lower.synapse_snippets`).
    roots : dict
        ``{"pre": root index, "post": population index}``.

    Returns
    -------
    None (vectorise the whole delivery) or ``{"j" | "ip": root}``: the indices whose
    neurons must order the synapses, with the root they index.
    """
    side_of = {"post": "j", "pre": "ip"}
    writes, reads, touched = {}, set(), set()
    for st in entry["list"]:
        if st["kind"] in side_of:
            var = (roots[st["kind"]], st["index"])
            writes.setdefault(var, []).append(st["op"])
            touched.add(st["kind"])
        for side, idx in st.get("reads", ()):
            reads.add((roots[side], idx))
            touched.add(side)
    plain = all(
        len(ops) == 1 and ops[0] in ("+=", "-=", "*=", "/=") and var not in reads
        for var, ops in writes.items()
    )
    if plain:
        return None
    written = {root for root, _ in writes}
    return {
        side_of[side]: roots[side]
        for side in ("post", "pre")
        if side in touched and roots[side] in written
    }


def sequential_rounds(keys) -> list:
    """Split a sequence of synapses into rounds that can each be vectorised.

    ``keys`` (m, K): the neurons (as integer keys) each synapse touches, rows in
    sequence order.  A synapse joins the current round when it is the first remaining
    synapse for every one of its keys, so two synapses that share a key run in sequence
    order, in different rounds, and no two synapses of a round share a key.

    >>> [r.tolist() for r in sequential_rounds(np.array([[1], [2], [1], [1]]))]
    [[0, 1], [2], [3]]
    """
    keys = np.array(keys, dtype=np.int64, copy=True)
    m, K = keys.shape
    for c in range(1, K):  # an autapse touches its neuron once
        same = np.any(keys[:, c : c + 1] == keys[:, :c], axis=1)
        keys[same, c] = -1 - np.flatnonzero(same)
    remaining = np.arange(m)
    rounds = []
    while remaining.size:
        flat = keys[remaining].ravel()
        first = np.zeros(flat.size, bool)
        first[np.unique(flat, return_index=True)[1]] = True
        ok = first.reshape(-1, K).all(axis=1)
        rounds.append(remaining[ok])
        remaining = remaining[~ok]
    return rounds


def _rate_table(src, step0, nsteps, dt, per_neuron=False) -> np.ndarray:
    """P = rate(t_n)*dt on the steps of a run (rate a function of t or an array):
    shape (nsteps,), or (nsteps, n) with ``per_neuron``.
    """
    from biosnn.errors import SimulationError

    t = (step0 + np.arange(nsteps)) * dt
    check_memory(
        8 * nsteps * (src.n if per_neuron else 1),
        f"the rate table of PoissonGroup {src.name!r}",
        "run shorter pieces (the table covers one run() call)",
    )
    if per_neuron:
        if callable(src.rate):
            r = np.empty((nsteps, src.n))
            for q, x in enumerate(t):
                row = np.asarray(src.rate(float(x)), dtype=float)
                if row.shape != (src.n,):
                    raise SimulationError(
                        f"the rate function of {src.name!r} returned shape "
                        f"{row.shape} at t = {x} ms, not ({src.n},)"
                    )
                r[q] = row
        else:
            table = np.asarray(src.rate, dtype=float)
            if table.shape[0] < step0 + nsteps:
                raise SimulationError(
                    f"the rate table of {src.name!r} has {table.shape[0]} "
                    f"steps; this run needs steps {step0}.."
                    f"{step0 + nsteps - 1}"
                )
            r = np.broadcast_to(table[step0 : step0 + nsteps], (nsteps, src.n))
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise SimulationError(f"the rate of {src.name!r} must be finite and >= 0")
        return np.ascontiguousarray(r * 1e-3 * dt)
    if callable(src.rate):
        try:
            r = np.asarray(src.rate(t), dtype=float)
        except Exception:  # noqa: BLE001 - scalar function: sample point by point
            r = None
        if r is None or r.shape != t.shape:
            r = np.array([float(src.rate(float(x))) for x in t])
    else:
        r = np.asarray(src.rate, dtype=float).reshape(-1)[step0 : step0 + nsteps]
        if r.size != nsteps:
            from biosnn.errors import SimulationError

            raise SimulationError(
                f"the rate table of {src.name!r} has no values for the "
                f"steps {step0}..{step0 + nsteps - 1}"
            )
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        from biosnn.errors import SimulationError

        raise SimulationError(f"the rate of {src.name!r} must be finite and >= 0")
    return np.ascontiguousarray(r * 1e-3 * dt)


def driven_table(pop, names, step0, nsteps, dt) -> np.ndarray:
    """Values of the time-driven parameters ``names`` of a population on the steps
    ``step0 .. step0 + nsteps - 1`` of the network: shape (nsteps, len(names), n),
    internal units.  Row q holds the value at ``t = (step0 + q)*dt``, used for the whole
    step (docs/network.md, "Inputs that change with time").

    A function of t (or a Stimulus) is called once per step with a float t in ms and must
    return a number or an array of n values (display unit); a 2-d array gives its rows
    ``step0 ..`` directly.  Refuses a table that would not fit in memory.
    """
    from biosnn.errors import ModelError, SimulationError

    m, n = pop.model, pop.n
    check_memory(
        8 * nsteps * len(names) * n,
        f"the table of {', '.join(names)} of population {pop.name!r}",
        "run shorter pieces (the table covers one run() call)",
    )
    out = np.empty((nsteps, len(names), n))
    t = (step0 + np.arange(nsteps)) * dt
    for d, name in enumerate(names):
        given = pop.params[name]
        what = f"{name} of population {pop.name!r}"
        if callable(given):
            raw = np.empty((nsteps, n))
            for q, x in enumerate(t):
                try:
                    row = np.asarray(given(float(x)), dtype=float)
                except Exception as exc:  # noqa: BLE001 - the user's function failed
                    raise ModelError(
                        f"the function giving {what} failed at t = {x} ms: {exc}"
                    ) from exc
                if row.shape not in ((), (1,), (n,)):
                    raise ModelError(
                        f"the function giving {what} must return a number or "
                        f"an array of n = {n} values, but returned shape "
                        f"{row.shape} at t = {x} ms"
                    )
                raw[q] = row
        else:
            table = np.asarray(given, dtype=float)
            if table.shape[0] < step0 + nsteps:
                raise SimulationError(
                    f"the table of {what} has {table.shape[0]} steps; this "
                    f"run needs steps {step0}..{step0 + nsteps - 1}"
                )
            raw = np.broadcast_to(table[step0 : step0 + nsteps], (nsteps, n))
        if not np.all(np.isfinite(raw)):
            raise SimulationError(
                f"{what} must be finite; its function or table gave a non-finite value"
            )
        out[:, d, :] = np.asarray(m.to_internal(name, np.ascontiguousarray(raw)), float)
    return out
