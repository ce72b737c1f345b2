"""The Network: builds the arrays of its objects and runs them (NumPy or C engine).

Build (in the constructor): values are drawn from ``numpy.random.default_rng(seed)`` in a
fixed order - populations in the order given (parameters in the model's order, then
initial values in the model's order), then synapses in the order given (connectivity,
per-synapse initial values, delays).  Run-time randomness (Poisson sources) comes from
the counter-based generator of :mod:`biosnn.solvers.noise`, keyed by (seed, step,
stream), so both engines draw the same numbers.

Both engines run the same *plan*: the structure of the network (JSON-able, computed from
the objects without sympy) plus the code snippets of :mod:`biosnn.network._lower`
(sympy, cold start only; cached with the C library).  See docs/network.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
import time as _time

import numpy as np

from biosnn.errors import ModelError, SimulationError
from biosnn.network._npengine import driven_table
from biosnn.network.objects import (
    PoissonGroup,
    Population,
    RateMonitor,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
    Subgroup,
    Synapses,
    is_driven,
)

__all__ = ["Network"]

#: Steps one run may make: step counts and times n*dt stay exact in int64 and float64.
MAX_STEPS = 2**53

#: Bump when the plan or the engines change what a key compiles to.
ENGINE_VERSION = "2"
#: First counter-based stream of the white noise of populations (Poisson sources use the
#: streams from 0): population k, neuron j, noise q -> NOISE_STREAM0 + (noisy neurons x
#: noises of the populations before k) + j*n_noises + q.
NOISE_STREAM0 = 1 << 62


def _engine_version() -> str:
    """ENGINE_VERSION and the package key (:func:`biosnn.cache.package_key`): any change
    to biosnn's code (lowering, printers, rewrites, engines) changes every network key.
    """
    from biosnn import cache

    return ENGINE_VERSION + cache.package_key()


def _pop_snippets_ref(pop):
    """The cache ref of a population's snippets: they depend on its model's structure
    key (equations, parameter names, events) and its method only, and every change to
    biosnn changes the key (:func:`_engine_version`).  A network whose synapses changed
    reuses its populations' lowering (no sympy work for them).
    """
    from biosnn import cache

    text = json.dumps([pop.model.structure_key, pop.method]) + _engine_version()
    return cache.directory("c") / f"netpop-{hashlib.sha256(text.encode()).hexdigest()}.ref"


def _read_pop_snippets(ref):
    """The snippets a ref names (a hash-checked JSON blob: they hold code), or None."""
    from biosnn import cache

    digest = cache.read_ref(ref)
    data = cache.read_blob(ref.parent, digest, ".json") if digest else None
    if data is None:
        return None
    try:
        snip = json.loads(data)
    except ValueError:
        return None
    return snip if isinstance(snip, dict) and "update" in snip else None


def _write_pop_snippets(ref, snip) -> None:
    from biosnn import cache

    digest = cache.put_blob(ref.parent, json.dumps(snip).encode(), ".json")
    cache.write_ref(ref, digest)


class Network:
    """A set of populations, sources, synapses and monitors run together.

    Parameters
    ----------
    *objects : Population, PoissonGroup, SpikeGenerator, Synapses, monitors
        Subgroups need not be listed; their population must be.
    dt : str or float
        Time step (``"0.1 ms"`` or ms).
    seed : int, optional
        Seed of every random draw (construction and run time); drawn if None and
        reported in ``stats["seed"]``.
    backend : {"auto", "c", "numpy"}
        ``auto``: the C engine when a compiler works, else NumPy with one warning;
        ``c``: the C engine or a CompilerError naming the compiler tried (see
        :mod:`biosnn.codegen.backend`).

    Examples
    --------
    >>> from biosnn import Model
    >>> from biosnn.network import Network, Population, SpikeMonitor
    >>> m = Model("dv/dt = (2*mV - v)/(10*ms) : volt", threshold="v > 1*mV",
    ...           reset="v = 0*mV")
    >>> P = Population(m, 3, method="exact")
    >>> mon = SpikeMonitor(P)
    >>> net = Network(P, mon, seed=1, backend="numpy")
    >>> net.run("100 ms")
    >>> mon.count.tolist()   # period 10 ms * ln 2 = 6.93 ms -> 14 spikes in 100 ms
    [14, 14, 14]
    """

    def __init__(self, *objects, dt="0.1 ms", seed=None, backend="auto"):
        t0 = _time.perf_counter()
        from biosnn.codegen.backend import check_backend

        self.backend_request = check_backend(backend, ModelError)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        from biosnn.solvers.noise import check_seed

        self.seed = check_seed(seed, ModelError)
        self.dt = _time_value(dt, "dt")
        if not self.dt > 0:
            raise ModelError(f"dt must be positive, not {dt!r}")
        if self.backend_request != "numpy":
            from biosnn.network import _cengine

            # an empty cache: the compiler's checks run while the network is built
            _cengine.start_checks()
        self._sort(objects)
        self._name_objects()
        self.step = 0
        self._stored = {}
        self._interrupted = None  # run() interrupted half way: the state is partial
        self._engine = None
        self._snippets = None
        self._building = None  # the object being built (for error locations)
        self.stats = {"build_s": 0.0, "compile_s": 0.0, "run_s": 0.0, "seed": self.seed}
        rng = np.random.default_rng(self.seed)
        self.arrays = {}
        try:
            self._build_populations(rng)
            self._build_sources()
            self._build_synapses(rng)
            self._build_monitors()
            self._check()
        except ModelError as exc:
            located = _located(exc, self._building)
            if located is exc:
                raise
            raise located from None
        self._building = None
        n_syn = sum(int(self.arrays[f"PO{g}"].size) for g in range(len(self.synapses)))
        syn_bytes = sum(
            self.arrays[k].nbytes for k in self.arrays if k[:2] in ("PO", "SV", "IP", "DP", "DL")
        )
        self.stats.update(n_synapses=n_syn, bytes_per_synapse=(syn_bytes / n_syn) if n_syn else 0.0)
        self.stats["build_s"] = _time.perf_counter() - t0

    # -- objects ------------------------------------------------------------------------
    def _sort(self, objects):
        self.populations, self.sources, self.synapses, self.monitors = [], [], [], []
        seen = set()
        for obj in objects:
            if id(obj) in seen:
                raise ModelError(f"{obj!r} is given twice to the Network")
            seen.add(id(obj))
            if isinstance(obj, Population):
                self.populations.append(obj)
            elif isinstance(obj, (PoissonGroup, SpikeGenerator)):
                self.sources.append(obj)
            elif isinstance(obj, Synapses):
                self.synapses.append(obj)
            elif isinstance(obj, (SpikeMonitor, StateMonitor, RateMonitor)):
                self.monitors.append(obj)
            elif isinstance(obj, Subgroup):
                raise ModelError("give the Network the population, not a slice of it")
            else:
                raise ModelError(
                    f"a Network holds populations, sources, synapses and "
                    f"monitors, not {type(obj).__name__}"
                )
        members = {id(o) for o in self.populations + self.sources}
        for obj in self.synapses + self.monitors:
            for end in ("pre", "post", "source", "population"):
                part = getattr(obj, end, None)
                if part is not None and id(part.root) not in members:
                    raise ModelError(
                        f"{obj!r} uses {part.root!r}, which is not in the Network; add it"
                    )

    def _name_objects(self):
        used = set()
        for kind, items in (
            ("pop", self.populations),
            ("src", self.sources),
            ("syn", self.synapses),
        ):
            for k, obj in enumerate(items):
                if obj.name is None:
                    obj.name = f"{kind}{k}"
                if obj.name in used:
                    raise ModelError(f"two network objects are named {obj.name!r}")
                used.add(obj.name)

    def population(self, name) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(f"no population named {name!r}")

    def synapses_named(self, name) -> Synapses:
        for s in self.synapses:
            if s.name == name:
                return s
        raise KeyError(f"no synapses named {name!r}")

    # -- build --------------------------------------------------------------------------
    def _build_populations(self, rng):
        from biosnn._memory import check_memory
        from biosnn.network.values import draw

        A = self.arrays
        self.pop_meta = []
        stream = NOISE_STREAM0
        # before drawing anything: states (and the engine's copies), parameters, spike and
        # refractory bookkeeping of every population and source (estimate)
        need = sum(
            8 * pop.n * (3 * len(pop.model.states) + len(pop.model.params) + 4)
            for pop in self.populations
        ) + sum(16 * src.n for src in self.sources)
        check_memory(
            need,
            "the populations ("
            + ", ".join(f"{o.name} n = {o.n}" for o in self.populations + self.sources)
            + ")",
            "use smaller populations",
        )
        for k, pop in enumerate(self.populations):
            self._building = pop
            m = pop.model
            summed = {t for syn in self.synapses if syn.post.root is pop for t in syn.summed}
            if summed and pop.method == "exact":
                raise ModelError(
                    f"population {pop.name!r} receives the summed variable(s) "
                    f"{', '.join(sorted(summed))}, which change every step; "
                    "method 'exact' needs constant parameters (use "
                    "'exponential_euler', 'euler' or 'rk4')"
                )
            driven = [p for p in m.params if p in pop.params and is_driven(pop.params[p])]
            both = sorted(set(driven) & summed)
            if both:
                raise ModelError(
                    f"{', '.join(both)} of population {pop.name!r} is both "
                    "given as a function of time and written by a summed "
                    "synapse variable; give it one source only"
                )
            values = {}
            for name in m.params:
                given = pop.params.get(name, m.params[name])
                if name in driven:
                    values[name] = driven_table(pop, [name], 0, 1, self.dt)[0, 0]
                    continue
                values[name] = draw(
                    given,
                    pop.n,
                    rng,
                    lambda x, nm=name: m.to_internal(nm, x),
                    name=f"{name} of population {pop.name!r}",
                )
            init = {}
            for name in m.states:
                if name in pop.init:
                    init[name] = draw(
                        pop.init[name],
                        pop.n,
                        rng,
                        lambda x, nm=name: m.to_internal(nm, x),
                        name=f"{name} of population {pop.name!r}",
                    )
            missing = [s for s in m.states if s not in init]
            if missing:
                start = m.initial_state(params=values)
                for s in missing:
                    init[s] = np.broadcast_to(np.asarray(start[s], float), (pop.n,))
            arrays = [
                p
                for p in m.params
                if (values[p].size and np.ptp(values[p]) != 0) or p in summed or p in driven
            ]
            A[f"Y{k}"] = np.ascontiguousarray(
                np.array([init[s] for s in m.states], dtype=float).reshape(len(m.states), pop.n)
            )
            A[f"PS{k}"] = np.array([values[p][0] for p in m.params] or [0.0], dtype=float)
            A[f"PA{k}"] = np.ascontiguousarray(
                np.array([values[p] for p in arrays], dtype=float).reshape(len(arrays), pop.n)
                if arrays
                else np.zeros((1, 1))
            )
            A[f"LS{k}"] = np.full(pop.n, -np.inf)
            A[f"AB{k}"] = np.zeros(pop.n, np.uint8)
            A[f"RF{k}"] = np.zeros(pop.n, np.uint8)
            A[f"RT{k}"] = np.zeros(pop.n)
            self.pop_meta.append({"array_params": arrays, "noise_stream": stream, "driven": driven})
            stream += pop.n * len(m.noises)
            pop._values = values

    def _build_sources(self):
        """Roots that emit spikes: populations first, then Poisson groups and generators."""
        self.roots = list(self.populations) + list(self.sources)
        self.root_index = {id(r): i for i, r in enumerate(self.roots)}
        A = self.arrays
        stream = 0
        self.source_kinds = []
        for j, src in enumerate(self.sources):
            if isinstance(src, PoissonGroup):
                src._stream = stream
                stream += src.n
                if not callable(src.rate) and np.ndim(src.rate) <= 1:
                    rate = np.broadcast_to(np.asarray(src.rate, float), (src.n,))
                    A[f"PR{j}"] = np.ascontiguousarray(rate * 1e-3 * self.dt)
                    self.source_kinds.append("poisson_const")
                elif callable(src.rate):
                    try:
                        probe = np.asarray(src.rate(0.0), dtype=float)
                    except Exception as exc:  # noqa: BLE001 - the user's function failed
                        raise ModelError(
                            f"the rate function of {src.name!r} failed at t = 0: {exc}"
                        ) from exc
                    if probe.shape not in ((), (src.n,)):
                        raise ModelError(
                            f"the rate function of {src.name!r} must return a "
                            f"number or an array of n = {src.n} rates, not an "
                            f"array of shape {probe.shape}"
                        )
                    self.source_kinds.append("poisson_neuron" if probe.ndim else "poisson_table")
                else:
                    self.source_kinds.append("poisson_neuron")
            else:
                self.source_kinds.append("gen")
                k = np.rint(src.times / self.dt).astype(np.int64)
                if k.size and k.min() < 1:
                    raise ModelError(
                        f"SpikeGenerator {src.name!r}: a spike at t < dt/2 has "
                        "no step ending there; the first possible time is dt"
                    )
                order = np.lexsort((src.indices, k))
                A[f"GS{j}"] = np.ascontiguousarray(k[order] - 1)
                A[f"GI{j}"] = np.ascontiguousarray(src.indices[order].astype(np.int32))
                A[f"GP{j}"] = np.zeros(1, np.int64)

    def _build_synapses(self, rng):
        from biosnn import units
        from biosnn.network.connectivity import csr
        from biosnn.network.values import draw

        A = self.arrays
        self.syn_meta = []
        depth = [1] * len(self.roots)
        for g, syn in enumerate(self.synapses):
            self._building = syn
            same = (
                syn.pre.root is syn.post.root
                and syn.pre.offset == syn.post.offset
                and syn.pre.n == syn.post.n
            )
            pos_pre = getattr(syn.pre.root, "positions", None)
            pos_post = syn.post.root.positions
            if pos_pre is not None:
                pos_pre = pos_pre[syn.pre.offset : syn.pre.offset + syn.pre.n]
            if pos_post is not None:
                pos_post = pos_post[syn.post.offset : syn.post.offset + syn.post.n]
            pre, post = syn.connect.build(
                syn.pre.n, syn.post.n, rng, same=same, pos_pre=pos_pre, pos_post=pos_post
            )
            nsyn = int(pre.size)
            # shared constants and per-synapse variables
            shared, svars = {}, {}
            for name, unit in syn._declared.items():
                factor, dim = units.parse_unit(unit)
                if units.is_base_unit_text(unit):  # "w : volt": numbers in mV (internal)
                    factor = 1.0
                if name in syn.params:
                    shared[name] = (dim, factor)
                else:
                    svars[name] = (dim, factor)
            for name in syn.params:
                if name not in shared:
                    val = syn.params[name]
                    if isinstance(val, str):
                        value, dim, _ = units.parse_quantity(val)
                    else:
                        value, dim = float(val), units.dimensionless()
                    shared[name] = (dim, None, value)
            qvals = []
            for name, spec in shared.items():
                if len(spec) == 3:
                    qvals.append(spec[2])
                    continue
                dim, factor = spec
                val = syn.params[name]
                if isinstance(val, str):
                    value, vdim, _ = units.parse_quantity(val)
                    if vdim != dim:
                        raise ModelError(
                            f"synapse parameter {name} = {val!r} of {syn.name!r} "
                            f"must have the unit declared in the model"
                        )
                else:
                    value = float(val) * factor
                qvals.append(value)
            values = None
            if hasattr(syn.connect, "values"):
                values = syn.connect.values(syn.pre.n, syn.post.n, same=same)
            sv = np.zeros((max(len(svars), 1), nsyn))
            for i, (name, (dim, factor)) in enumerate(svars.items()):
                if name in syn.init:
                    sv[i] = draw(
                        syn.init[name],
                        nsyn,
                        rng,
                        lambda x, f=factor: _convert_with(x, f, dim),
                        name=f"{name} of synapses {syn.name!r}",
                    )
                elif name == "w" and values is not None:
                    sv[i] = np.asarray(values, float) * factor
            d = syn.delay
            if isinstance(d, (numbers.Real, str)) and not isinstance(d, bool):
                dsteps = np.array([_steps(_time_value(d, "delay"), self.dt, syn)])
            else:
                dv = draw(
                    d,
                    nsyn,
                    rng,
                    lambda x: _time_value(x, "delay"),
                    name=f"delay of synapses {syn.name!r}",
                )
                dsteps = _steps(dv, self.dt, syn)
            hetero = dsteps.size > 1 and nsyn > 0 and np.ptp(dsteps) != 0
            indptr, indices, order = csr(pre, post, syn.pre.n)
            sv = sv[:, order]
            if hetero:
                dsteps = dsteps[order]
                # within each source row: by delay (stable), so rows split by delay
                row = np.repeat(np.arange(syn.pre.n), np.diff(indptr))
                o2 = np.lexsort((np.arange(nsyn), dsteps, row))
                indices, sv, dsteps = indices[o2], sv[:, o2], dsteps[o2]
                D = int(dsteps.max())
                from biosnn._memory import check_memory

                check_memory(
                    16 * syn.pre.n * (D + 2),
                    f"the delay table of synapses {syn.name!r} (longest delay {D * self.dt:g} ms)",
                    "use shorter delays or a larger dt",
                )
                counts = np.zeros((syn.pre.n, D + 1), np.int64)
                np.add.at(counts, (row, dsteps), 1)
                dptr = np.zeros((syn.pre.n, D + 2), np.int64)
                dptr[:, 1:] = np.cumsum(counts, axis=1)
                dptr += indptr[:-1, None]
                A[f"DP{g}"] = np.ascontiguousarray(dptr.reshape(-1))
                A[f"DL{g}"] = dsteps.astype(np.int32)  # for inspection (delays per synapse)
                delay = D
            else:
                delay = int(dsteps.reshape(-1)[0]) if dsteps.size else 0
                A[f"IP{g}"] = indptr.astype(np.int64)
            A[f"PO{g}"] = np.ascontiguousarray((indices + syn.post.offset).astype(np.int32))
            A[f"SV{g}"] = np.ascontiguousarray(sv if svars else np.zeros((1, 1)))
            A[f"QS{g}"] = np.array(qvals or [0.0], dtype=float)
            self._build_synapse_extras(g, syn, indptr if not hetero else None, nsyn)
            r = self.root_index[id(syn.pre.root)]
            depth[r] = max(depth[r], delay + 1)
            self.syn_meta.append(
                {
                    "svars": list(svars),
                    "shared": list(shared),
                    "dims": {n: v[0] for n, v in {**svars, **shared}.items()},
                    "hetero": bool(hetero),
                    "delay": delay,
                    "root": r,
                }
            )
            syn.state = _SynapseView(self, g, syn, list(svars), svars)
        self.depth = depth
        from biosnn._memory import check_memory

        check_memory(
            sum(12 * depth[r] * root.n for r, root in enumerate(self.roots)),
            "the spike rings of the synaptic delays (longest delay "
            f"{(max(depth) - 1) * self.dt:g} ms)"
            if depth
            else "the spike rings",
            "use shorter delays or a larger dt",
        )
        for r, root in enumerate(self.roots):
            A[f"HS{r}"] = np.zeros((depth[r], root.n), np.int32)
            A[f"HN{r}"] = np.zeros(depth[r], np.int64)

    def _build_synapse_extras(self, g, syn, indptr, nsyn):
        """Arrays of on_post, event-driven, clock-driven and summed synapses.

        ``LU<g>``: time of the last update of each synapse's event-driven variables (ms,
        0 at the start, Brian2's ``lastupdate``); ``PI<g>``: the presynaptic (root) index of
        each synapse; ``BP<g>``/``BX<g>``: synapses grouped by postsynaptic neuron (row
        pointers over the post group, then synapse indices in increasing order).
        """
        A = self.arrays
        if syn.event_driven:
            A[f"LU{g}"] = np.zeros(nsyn)
        if not (syn.on_post or syn.clock_driven or syn.summed):
            return
        if indptr is not None:
            counts = np.diff(indptr)
        else:
            D = int(A[f"DP{g}"].size // syn.pre.n) - 2
            dp = A[f"DP{g}"].reshape(syn.pre.n, D + 2)
            counts = dp[:, -1] - dp[:, 0]
        A[f"PI{g}"] = np.ascontiguousarray(
            (np.repeat(np.arange(syn.pre.n), counts) + syn.pre.offset).astype(np.int32)
        )
        if syn.on_post:
            local = A[f"PO{g}"].astype(np.int64) - syn.post.offset
            order = np.argsort(local, kind="stable")
            A[f"BX{g}"] = np.ascontiguousarray(order.astype(np.int64))
            A[f"BP{g}"] = np.ascontiguousarray(
                np.searchsorted(local[order], np.arange(syn.post.n + 1)).astype(np.int64)
            )

    def _build_monitors(self):
        for m in self.monitors:
            m._dt = self.dt
            if isinstance(m, StateMonitor):
                m._data, m._steps = [], []
                self._record_states(m, 0)

    def _record_states(self, m, step):
        k = self.populations.index(m.population.root)
        Y = self.arrays[f"Y{k}"]
        model = m.population.model
        rows = [model.states.index(v) for v in m.variables]
        m._data.append(Y[rows][:, m.indices + m.population.offset][:, :, None].copy())
        m._steps.append(np.array([step], np.int64))

    # -- plan and key ---------------------------------------------------------------------
    def structure(self) -> dict:
        """The JSON-able structure both engines are generated from (no sympy needed).

        It holds everything the lowering checks (texts, names, dimensions), so that a
        network whose key finds a compiled library has passed the same checks.
        """
        from biosnn import units

        pops = []
        for k, pop in enumerate(self.populations):
            pops.append(
                {
                    "model": pop.model.structure_key,
                    "name": pop.model.name,
                    "method": pop.method,
                    "states": list(pop.model.states),
                    "params": list(pop.model.params),
                    "dims": [
                        units.dim_key(pop.model.dimension(n))
                        for n in list(pop.model.states) + list(pop.model.params)
                    ],
                    "array_params": self.pop_meta[k]["array_params"],
                    "driven": self.pop_meta[k]["driven"],
                    "noises": len(pop.model.noises),
                }
            )
        srcs = []
        for j, _src in enumerate(self.sources):
            srcs.append({"kind": self.source_kinds[j]})
        syns = []
        for g, syn in enumerate(self.synapses):
            meta = self.syn_meta[g]
            syns.append(
                {
                    "pre_root": meta["root"],
                    "post": self.populations.index(syn.post.root),
                    "model": syn.model_text,
                    "on_pre": syn.on_pre,
                    "on_post": syn.on_post,
                    "svars": meta["svars"],
                    "shared": meta["shared"],
                    "dims": {n: units.dim_key(d) for n, d in meta["dims"].items()},
                    "hetero": meta["hetero"],
                    "pre_pop": meta["root"] if meta["root"] < len(self.populations) else None,
                    "event": list(syn.event_driven),
                    "clock": list(syn.clock_driven),
                    "summed": list(syn.summed),
                    "method": syn.method,
                    "odes": [st.canonical for _, st in syn._odes.values()]
                    + [st.canonical for _, st in syn._summed],
                }
            )
        mons = []
        for m in self.monitors:
            if isinstance(m, SpikeMonitor):
                mons.append(
                    {
                        "kind": "spike",
                        "root": self.root_index[id(m.source.root)],
                        "mask": m.indices is not None,
                    }
                )
            elif isinstance(m, RateMonitor):
                mons.append({"kind": "rate", "root": self.root_index[id(m.source.root)]})
            else:
                mons.append({"kind": "state"})
        return {
            "version": ENGINE_VERSION,
            "pops": pops,
            "sources": srcs,
            "syns": syns,
            "mons": mons,
        }

    def key(self) -> str:
        text = json.dumps(self.structure(), sort_keys=True) + _engine_version()
        return hashlib.sha256(text.encode()).hexdigest()

    def snippets(self) -> dict:
        """The lowered code of every population and synapse group (needs sympy); computed
        once, when the network is built (:meth:`_check`), and run by both engines.
        """
        if self._snippets is not None:
            return self._snippets
        from biosnn.network import _lower

        pops = []
        for k, pop in enumerate(self.populations):
            self._building = pop
            ref = _pop_snippets_ref(pop)
            cached = _read_pop_snippets(ref)
            if cached is not None:
                pops.append(cached)
                continue
            spec = pop.model.kernel_spec()
            if pop.method == "exact" and spec.linear is None:
                raise ModelError(
                    f"population {pop.name!r}: method 'exact' needs linear "
                    f"equations with constant coefficients; model "
                    f"{pop.model.name} is not (use 'exponential_euler' or 'rk4')"
                )
            if (
                pop.method == "exponential_euler"
                and spec.exp_euler
                and any(e is None for e in spec.exp_euler)
            ):
                raise ModelError(
                    f"population {pop.name!r}: exponential_euler needs every "
                    "equation to be linear in its own state"
                )
            pops.append(_lower.population_snippets(spec, pop.method))
            _write_pop_snippets(ref, pops[-1])
        syns = []
        for g, syn in enumerate(self.synapses):
            self._building = syn
            meta = self.syn_meta[g]
            svars = {n: meta["dims"][n] for n in meta["svars"]}
            shared = {n: meta["dims"][n] for n in meta["shared"]}
            pre_model = syn.pre.root.model if isinstance(syn.pre.root, Population) else None
            pre_arr = self.pop_meta[meta["root"]]["array_params"] if pre_model else ()
            post_arr = self.pop_meta[self.populations.index(syn.post.root)]["array_params"]
            pre_info = _lower.SideInfo(pre_model, pre_arr, meta["root"])
            post_info = _lower.SideInfo(
                syn.post.root.model, post_arr, self.populations.index(syn.post.root)
            )
            entry = {}
            for what in ("on_pre", "on_post"):
                text = getattr(syn, what)
                source, first = syn.text_origin(what)
                entry[what] = (
                    _lower.synapse_snippets(
                        text,
                        svars,
                        shared,
                        pre_info,
                        post_info,
                        f"{what} of synapses {syn.name!r}",
                        source,
                        first,
                    )
                    if text
                    else None
                )
            odes = {n: st for n, (_, st) in syn._odes.items()}
            ev = {n: odes[n] for n in syn.event_driven}
            ck = {n: odes[n] for n in syn.clock_driven}
            context = f"the model of synapses {syn.name!r}"
            entry["event"] = (
                _lower.event_snippets(ev, svars, shared, pre_info, post_info, set(ck), context)
                if ev
                else None
            )
            entry["clock"] = (
                _lower.clock_snippets(
                    ck, svars, shared, pre_info, post_info, syn.method, set(ev), context
                )
                if ck
                else None
            )
            entry["summed"] = (
                _lower.summed_snippets(
                    syn._summed, svars, shared, pre_info, post_info, set(ev), context
                )
                if syn._summed
                else None
            )
            syns.append(entry)
        self._building = None
        from biosnn.network import _npengine

        if _npengine.VECTOR_MATH:
            # exp/expm1 of synapse code go through biosnn's own fixed-operation versions in
            # both engines, as the populations' do: NumPy's SIMD exp differs from libm's in
            # the last ulp on some machines (AVX-512), which would split the engines.
            from biosnn.network._vmath import respell_tree

            syns = respell_tree(syns)
        self._snippets = {"pops": pops, "syns": syns}
        return self._snippets

    def _check(self):
        """Check the whole network now, not at run(): lower every population and synapse
        group (every equation, statement and expression parsed, names resolved, units
        checked).  A structure whose C library is cached was lowered when the library
        was built (the key holds everything the lowering checks); its stored snippets
        are read instead (no sympy: the warm start).
        """
        snippets = None
        if self.backend_request != "numpy":
            from biosnn.network import _cengine

            snippets = _cengine.cached_snippets(self)
        if snippets is None:
            snippets = self.snippets()
        for k, pop in enumerate(self.populations):
            self._building = pop
            ref = snippets["pops"][k].get("reftime")
            for name in self.pop_meta[k]["driven"] if ref else ():
                if re.search(rf"\bP_{pop.model.params.index(name)}\b", ref["py"]):
                    raise ModelError(
                        f"the refractory time of population {pop.name!r} "
                        f"uses {name}, which changes with time; give it a "
                        "constant"
                    )

    # -- running --------------------------------------------------------------------------
    def _get_engine(self):
        if self._engine is not None:
            return self._engine
        from biosnn.codegen.backend import fall_back, use_c
        from biosnn.errors import CompilerError

        t0 = _time.perf_counter()
        engine = None
        if self.backend_request != "numpy":
            from biosnn.network import _cengine

            _cengine.wait_checks()  # the compiler's checks started in __init__, if any
        # only a compiler problem leads to NumPy (backend="auto", one warning); a model
        # error of the network is raised as it is (biosnn.codegen.backend)
        if use_c(self.backend_request, stacklevel=3):
            from biosnn.network import _cengine

            try:
                engine = _cengine.CEngine(self)
            except CompilerError as exc:
                if self.backend_request == "c":
                    raise
                fall_back(exc, stacklevel=3)
        if engine is None:
            from biosnn.network._npengine import NumpyEngine

            engine = NumpyEngine(self)
        self._engine = engine
        self.stats["compile_s"] = _time.perf_counter() - t0
        self.stats["backend"] = engine.name
        # C engine: the translation units compiled for this network (none when its
        # library or every unit's object was cached; biosnn.network._units)
        self.stats["compiled_units"] = list(getattr(engine, "compiled_units", []))
        self._prepare_propagators(engine)
        return engine

    def _prepare_propagators(self, engine):
        """Exact populations: M = expm([[A, b], [0, 0]] dt) per distinct parameter set,
        with A and b probed from the drift (f(0), f(e_j) - f(0)): no sympy needed.
        """
        from biosnn.network._npengine import drift_function
        from biosnn.solvers.expm import expm

        A = self.arrays
        for k, pop in enumerate(self.populations):
            snip = engine.snippets["pops"][k]
            self._reftimes(k, pop, snip)
            if pop.method != "exact":
                continue
            ns = len(pop.model.states)
            arr = self.pop_meta[k]["array_params"]
            f = drift_function(snip, ns, len(pop.model.params), arr, pop.model.params)
            if arr:
                uniq, inverse = np.unique(A[f"PA{k}"].T, axis=0, return_inverse=True)
            else:
                uniq, inverse = np.zeros((1, 0)), np.zeros(pop.n, np.int64)
            mats = []
            probe = np.zeros((ns, ns + 1))
            probe[np.arange(ns), np.arange(1, ns + 1)] = 1.0
            for row in uniq:
                out = f(probe, A[f"PS{k}"], row)
                b = out[:, 0]
                Amat = out[:, 1:] - b[:, None]
                big = np.zeros((ns + 1, ns + 1))
                big[:ns, :ns], big[:ns, ns] = Amat, b
                mats.append(expm(big * self.dt)[:ns])
            A[f"MP{k}"] = np.ascontiguousarray(np.array(mats))
            A[f"MI{k}"] = np.ascontiguousarray(np.asarray(inverse).reshape(-1).astype(np.int32))

    def _reftimes(self, k, pop, snip):
        if snip["reftime"] is None:
            return
        from biosnn.network._npengine import param_namespace

        ns = param_namespace(
            self.arrays[f"PS{k}"],
            self.arrays[f"PA{k}"],
            self.pop_meta[k]["array_params"],
            pop.model.params,
        )
        ns["_np"] = np
        value = eval(compile(snip["reftime"]["py"], "<reftime>", "eval"), ns)  # noqa: S307 - generated
        self.arrays[f"RT{k}"][:] = value

    def run(self, duration, progress=None):
        """Advance the network by ``duration`` (``"1 s"``, or ms); repeatable.

        progress : bool, optional
            Show a progress bar (tqdm, if installed); default: no bar.

        A run stopped by Ctrl-C (KeyboardInterrupt; the C engine stops within a step)
        leaves a partial state: later runs raise SimulationError until :meth:`restore`.
        """
        if self._interrupted is not None:
            raise SimulationError(
                f"the network was interrupted during run({self._interrupted!r}): its state "
                "and monitors are those of an unfinished step; restore() a stored state or "
                "build the network again"
            )
        T = _time_value(duration, "duration", SimulationError)
        if not (isinstance(T, float) and np.isfinite(T)):
            raise SimulationError(f"the duration must be a finite time, not {duration!r}")
        if T / self.dt >= MAX_STEPS:
            raise SimulationError(
                f"the duration {duration!r} is {T / self.dt:.3g} steps of "
                f"dt = {self.dt} ms, more than a run can make "
                f"({MAX_STEPS:.3g}); run shorter pieces"
            )
        nsteps = int(round(T / self.dt))
        if T < 0 or abs(nsteps * self.dt - T) > 1e-9 * max(1.0, T):
            raise SimulationError(
                f"the duration {duration!r} must be >= 0 and a whole "
                f"number of steps of dt = {self.dt} ms"
            )
        engine = self._get_engine()
        t0 = _time.perf_counter()
        chunks = [nsteps]
        bar = None
        if progress:
            try:
                from tqdm import tqdm

                bar = tqdm(total=nsteps, unit="step")
                size = max(1, nsteps // 100)
                chunks = [size] * (nsteps // size) + ([nsteps % size] if nsteps % size else [])
            except ImportError:
                bar = None
        try:
            engine.begin_run(nsteps)
            for c in chunks:
                engine.run_steps(c)
                self.step += c
                if bar is not None:
                    bar.update(c)
            engine.end_run()
        except KeyboardInterrupt:  # Ctrl-C (the C engine stops within a step)
            self._interrupted = duration
            raise
        if bar is not None:
            bar.close()
        self.stats["run_s"] = _time.perf_counter() - t0
        self.stats["run_s_total"] = self.stats.get("run_s_total", 0.0) + self.stats["run_s"]

    @property
    def t(self) -> float:
        """Current time in ms."""
        return self.step * self.dt

    # -- pickling -------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """A pickled Network holds its definition and its state, not its engine: the
        objects (populations with their models, sources, synapses, monitors with what
        they recorded), the arrays (state, connectivity, spike queues), the time step,
        the stored states (:meth:`store`), the seed and the backend asked for, and the
        lowered snippets.  The engine (compiled library or NumPy functions) is made again
        by the next :meth:`run`, which continues exactly as the original would.
        """
        state = dict(self.__dict__)
        state["_engine"] = None
        del state["root_index"]  # keyed by id(): made again for the new objects
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.root_index = {id(r): i for i, r in enumerate(self.roots)}

    # -- store / restore --------------------------------------------------------------------
    def store(self, name="default"):
        """Remember the whole state (arrays, step, monitors' data) under ``name``."""
        mons = []
        for m in self.monitors:
            if isinstance(m, SpikeMonitor):
                m._join()
                mons.append((m._i.copy(), m._step.copy()))
            elif isinstance(m, StateMonitor):
                mons.append((list(m._data), list(m._steps)))
            else:
                mons.append(list(m._counts))
        self._stored[name] = ({k: v.copy() for k, v in self.arrays.items()}, self.step, mons)

    def restore(self, name="default"):
        """Go back to the state stored under ``name`` (bit for bit)."""
        if name not in self._stored:
            raise KeyError(
                f"nothing stored under {name!r}; stored: {', '.join(self._stored) or 'nothing'}"
            )
        arrays, step, mons = self._stored[name]
        for k, v in arrays.items():
            if k in self.arrays and self.arrays[k].shape == v.shape:
                self.arrays[k][...] = v
            else:
                self.arrays[k] = v.copy()
        self.step = step
        self._interrupted = None
        for m, saved in zip(self.monitors, mons):
            if isinstance(m, SpikeMonitor):
                m._i, m._step, m._chunks = saved[0].copy(), saved[1].copy(), []
            elif isinstance(m, StateMonitor):
                m._data, m._steps = list(saved[0]), list(saved[1])
            else:
                m._counts = list(saved)


def _located(exc, obj):
    """``exc`` with the file and line of the network object ``obj`` when ``exc`` names
    no file and ``obj`` was read from one (``obj._origin = (file, {"table": line,
    ...})``, set by :mod:`biosnn.network.files`), else ``exc`` itself.
    """
    origin = getattr(obj, "_origin", None)
    if not isinstance(exc, ModelError) or exc.source is not None or origin is None:
        return exc
    source, lines = origin
    try:
        return type(exc)(exc.message, line=lines.get("table"), source=source)
    except TypeError:
        return exc


class _SynapseView:
    """Per-synapse arrays of a Synapses object (``syn.state.w``, ``.pre``, ``.post``)."""

    def __init__(self, net, g, syn, names, svars):
        self._net, self._g, self._syn, self._names, self._svars = net, g, syn, names, svars

    @property
    def post(self):
        return self._net.arrays[f"PO{self._g}"] - self._syn.post.offset

    @property
    def pre(self):
        A = self._net.arrays
        g = self._g
        if f"IP{g}" in A:
            counts = np.diff(A[f"IP{g}"])
        else:
            D = self._net.syn_meta[g]["delay"]
            dp = A[f"DP{g}"].reshape(-1, D + 2)
            counts = dp[:, -1] - dp[:, 0]
        return np.repeat(np.arange(counts.size), counts)

    @property
    def delay(self):
        """Delays in ms."""
        A, g = self._net.arrays, self._g
        if f"DL{g}" in A:
            return A[f"DL{g}"] * self._net.dt
        return np.full(A[f"PO{g}"].size, self._net.syn_meta[g]["delay"] * self._net.dt)

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        factor = self._svars[name][1]
        return self._net.arrays[f"SV{self._g}"][self._names.index(name)] / factor


def _convert_with(x, factor, dim):
    from biosnn import units

    if isinstance(x, str):
        value, d, _ = units.parse_quantity(x)
        if d != dim:
            raise ModelError(f"{x!r} has the wrong unit")
        return value
    return np.asarray(x, dtype=float) * factor


def _time_value(value, what, error=ModelError) -> float:
    """A time in ms from ``"0.1 ms"`` or a number (ms) (:func:`biosnn.units.parse_time`);
    an array of numbers (ms) as a float array.
    """
    if isinstance(value, (str, numbers.Real)):
        from biosnn.units import parse_time

        return parse_time(value, what, error=error)
    return np.asarray(value, dtype=float)


def _steps(d, dt, syn):
    d = np.asarray(d, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise ModelError(f"delays of synapses {syn.name!r} must be finite and >= 0")
    return np.rint(d / dt).astype(np.int64)


del math
