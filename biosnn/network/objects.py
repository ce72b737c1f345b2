"""The objects a network is made of: populations, spike sources, synapses, monitors.

They only describe; :class:`~biosnn.network.network.Network` draws their values, builds
the connectivity and runs them (see docs/network.md for the step semantics).
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from biosnn.errors import ModelError
from biosnn.names import check_identifier

__all__ = [
    "Population",
    "Subgroup",
    "PoissonGroup",
    "SpikeGenerator",
    "Synapses",
    "SpikeMonitor",
    "StateMonitor",
    "RateMonitor",
]

#: Integration methods a population may use (fixed step; the last two for white noise).
METHODS = (
    "exact",
    "exponential_euler",
    "euler",
    "midpoint",
    "heun",
    "rk4",
    "euler_maruyama",
    "stochastic_heun",
)


def _check_n(n, what) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ModelError(f"{what} must be a positive whole number of neurons, not {n!r}")
    return int(n)


def _check_name(name, default):
    if name is None:
        return default
    return check_identifier(name, "the name")


def check_memory(nbytes, what: str, advice: str) -> None:
    """Refuse (SimulationError) a buffer of ``nbytes`` above 80 % of the memory available
    now; ``what`` names the buffer, ``advice`` says what to do instead
    (:func:`biosnn._memory.check_memory`).
    """
    from biosnn._memory import check_memory as _check

    _check(nbytes, what, advice)


def is_driven(value) -> bool:
    """Whether a population parameter value changes with time: a function of t, a
    Stimulus (callable too) or a 2-d array ``(steps, n)`` / ``(steps, 1)``.
    """
    if callable(value):
        return True
    if isinstance(value, (str, numbers.Number)) or not hasattr(value, "__len__"):
        return False
    try:
        return np.ndim(np.asarray(value, dtype=float)) == 2
    except (TypeError, ValueError):
        return False


class _Source:
    """Something that emits spikes (a population, a slice of one, Poisson, generator)."""

    n: int
    name: str

    @property
    def root(self):
        return self

    @property
    def offset(self) -> int:
        return 0


class Population(_Source):
    """``n`` neurons of one model.

    Parameters
    ----------
    model : biosnn.Model or str
        A model, or the name of a library model (``"lif"``).
    n : int
        Number of neurons.
    name : str, optional
        Identifier (default ``pop<k>``, numbered by the network).
    params : dict, optional
        name -> value for every neuron: a number (display unit of the model), a string
        with a unit (``"10 ms"``), an array of length ``n`` or a Distribution
        (``Uniform(...)``).  Missing parameters take the model's defaults.  A parameter
        may also change with time (an injected current or conductance): a Python
        function of t (ms) returning a number or an array of ``n`` values (display
        unit), a :class:`biosnn.Stimulus`, or a 2-d array of shape ``(steps, n)`` or
        ``(steps, 1)`` whose row ``k`` holds for step ``k`` counted from the network's
        t = 0.  It is tabulated on the step grid before each run: the value at
        ``t_n = n*dt`` holds for the whole of step n (docs/network.md, "Inputs that
        change with time").
    init : dict, optional
        state -> initial value, same forms.  Missing states take the model's initial values.
    method : str
        ``"exact"`` (linear models), ``"exponential_euler"``, ``"euler"``, ``"midpoint"``,
        ``"heun"`` or ``"rk4"``; for models with white noise (``xi``)
        ``"euler_maruyama"`` or ``"stochastic_heun"``.
    positions : array (n, d), optional
        Positions in um (used by DistanceDependent connectivity).

    Examples
    --------
    >>> from biosnn import Model
    >>> from biosnn.network import Population
    >>> lif = Model("dv/dt = (El - v)/tau : volt", params={"El": "-65 mV", "tau": "10 ms"},
    ...             threshold="v > -50*mV", reset="v = -65*mV")
    >>> P = Population(lif, 100, name="exc", method="exact")
    >>> P.n, P[:10].n
    (100, 10)
    """

    def __init__(self, model, n, name=None, params=None, init=None, method="rk4", positions=None):
        from biosnn.equations.files import as_model

        self.model = model = as_model(model, what="a Population")
        self.n = _check_n(n, "n")
        self.name = _check_name(name, None)
        if method not in METHODS:
            raise ModelError(
                f"unknown method {method!r} for a population; the methods are: "
                + ", ".join(METHODS)
            )
        if model.noises and method not in METHODS[-2:]:
            raise ModelError(
                f"model {model.name} has white noise ({', '.join(model.noises)}); "
                f"use method 'euler_maruyama' or 'stochastic_heun', not {method!r}"
            )
        self.method = method
        self.params = dict(params or {})
        self.init = dict(init or {})
        for key in self.params:
            if key not in model.params:
                raise ModelError(
                    f"{key} is not a parameter of model {model.name}; its "
                    f"parameters: {', '.join(model.params) or 'none'}"
                )
            value = self.params[key]
            if is_driven(value) and not callable(value):
                arr = np.asarray(value, dtype=float)
                if (
                    arr.shape[0] == 0
                    or arr.shape[1] not in (1, self.n)
                    or not np.all(np.isfinite(arr))
                ):
                    raise ModelError(
                        f"a table of {key} over time must be finite and have "
                        f"shape (steps, {self.n}) or (steps, 1), not "
                        f"{arr.shape}"
                    )
                self.params[key] = arr
        if method == "exact" and any(is_driven(v) for v in self.params.values()):
            raise ModelError(
                "method 'exact' needs constant parameters; with a parameter "
                "that changes with time use 'exponential_euler', 'euler' or "
                "'rk4'"
            )
        for key in self.init:
            if key not in model.states:
                raise ModelError(
                    f"{key} is not a state of model {model.name}; its states: "
                    f"{', '.join(model.states)}"
                )
        self.positions = None
        if positions is not None:
            pos = np.asarray(positions, dtype=float)
            if pos.ndim != 2 or pos.shape[0] != self.n:
                raise ModelError(
                    f"positions must have shape (n, d) = ({self.n}, d), not {pos.shape}"
                )
            self.positions = pos

    def __getitem__(self, item):
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise ModelError("a population can be sliced with [a:b] only (contiguous)")
        start, stop, _ = item.indices(self.n)
        if stop <= start:
            raise ModelError(
                f"the slice [{item.start}:{item.stop}] of population {self.name!r} is empty"
            )
        return Subgroup(self, start, stop)

    def __repr__(self):
        return f"Population({self.model.name!r}, {self.n}, name={self.name!r})"


class Subgroup(_Source):
    """Neurons ``start:stop`` of a population (``P[:3200]``); usable wherever a
    population is a source or a target.
    """

    def __init__(self, population: Population, start: int, stop: int):
        self.population, self.start, self.stop = population, int(start), int(stop)
        self.n = self.stop - self.start

    @property
    def root(self):
        return self.population

    @property
    def offset(self) -> int:
        return self.start

    @property
    def name(self):
        return f"{self.population.name}[{self.start}:{self.stop}]"

    @property
    def model(self):
        return self.population.model

    def __repr__(self):
        return f"Subgroup({self.population!r}, {self.start}, {self.stop})"


class PoissonGroup(_Source):
    """``n`` independent Poisson spike trains.

    Parameters
    ----------
    n : int
    rate : str, number, array or callable
        ``"5 Hz"``, a number in Hz, an array of ``n`` rates in Hz (one per neuron), a
        2-d array ``(steps, n)`` (or ``(steps, 1)``) of rates in Hz where row ``k`` is the
        rate of step ``k`` counted from the network's t = 0, or a Python function of t
        (ms) that returns a rate in Hz (the same for every neuron) or an array of ``n``
        rates (one per neuron).  A function is called once per step, before the run.
    name : str, optional

    In step n a neuron spikes when ``u(seed, n, stream) < rate(t_n)*dt`` with the
    counter-based uniform of :mod:`biosnn.solvers.noise` (same numbers in both engines).
    Time-varying rates are tabulated for the run before it starts; a table that would
    not fit in the available memory is refused with an error.
    """

    def __init__(self, n, rate, name=None):
        self.n = _check_n(n, "n")
        self.name = _check_name(name, None)
        self.rate = rate
        if callable(rate):
            return
        if isinstance(rate, str):
            from biosnn import units

            value, dim, _ = units.parse_quantity(rate)
            if dim != units.parse_unit("Hz")[1]:
                raise ModelError(f"a Poisson rate needs units of frequency (Hz), not {rate!r}")
            self.rate = value * 1000.0  # internal 1/ms -> Hz
            rate = self.rate
        arr = np.asarray(rate, dtype=float)
        if (
            arr.ndim > 2
            or (arr.ndim == 1 and arr.size != self.n)
            or (arr.ndim == 2 and (arr.shape[1] not in (1, self.n) or arr.shape[0] == 0))
            or not np.all(arr >= 0)
            or not np.all(np.isfinite(arr))
        ):
            raise ModelError(
                f"a Poisson rate must be finite, >= 0, and a number, a string "
                f"with a unit, an array of n = {self.n} rates, an array of shape "
                f"(steps, {self.n}) or a function of t, not an array of shape "
                f"{arr.shape}"
                if arr.ndim
                else "a Poisson rate must be a finite number >= 0"
            )
        if arr.ndim == 2:
            self.rate = arr

    def __repr__(self):
        return f"PoissonGroup({self.n}, name={self.name!r})"


class SpikeGenerator(_Source):
    """Spikes given as (neuron index, time) pairs.

    Parameters
    ----------
    n : int
    indices : array of int
    times : array of float (ms), or strings with units
    name : str, optional

    A spike at time t is emitted in the step whose end is ``round(t/dt)*dt``; times must
    be at least one step (a spike at t = 0 has no step that ends there).
    """

    def __init__(self, n, indices, times, name=None):
        self.n = _check_n(n, "n")
        self.name = _check_name(name, None)
        idx = np.asarray(indices)
        if isinstance(times, str) or (len(times) and isinstance(list(times)[0], str)):
            from biosnn.units import parse_time

            items = [times] if isinstance(times, str) else list(times)
            t = np.array(
                [parse_time(x, "SpikeGenerator times", error=ModelError) for x in items],
                dtype=float,
            )
        else:
            t = np.asarray(times, dtype=float)
        if idx.shape != t.shape or idx.ndim != 1:
            raise ModelError(
                "indices and times of a SpikeGenerator must be 1-d arrays of the same length"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.n or not np.all(idx == np.round(idx))):
            raise ModelError(f"SpikeGenerator indices must be whole numbers in [0, {self.n})")
        if not np.all(np.isfinite(t)) or (t.size and t.min() < 0):
            raise ModelError("SpikeGenerator times must be finite and >= 0")
        self.indices, self.times = idx.astype(np.int64), t

    def __repr__(self):
        return f"SpikeGenerator({self.n}, {self.times.size} spikes, name={self.name!r})"


class Synapses:
    """Connections from a source to a population, with statements run at spikes.

    Parameters
    ----------
    pre : Population, Subgroup, PoissonGroup or SpikeGenerator
    post : Population or Subgroup
    model : str, optional
        Synapse model in Brian2's notation, one statement per line: ``"w : volt"``
        declares a per-synapse variable (or, when ``params`` gives its value, a shared
        constant); ``"dapre/dt = -apre/taupre : 1 (event-driven)"`` a linear equation
        solved exactly from the last event to the next; ``"dr/dt = ... : 1
        (clock-driven)"`` an equation integrated every step; ``"I_gap_post =
        g*(v_pre - v_post) : amp (summed)"`` a parameter of the postsynaptic model set,
        every step, to the sum over its synapses.  docs/network.md ("Synapse models")
        lists what each form may use.
    on_pre, on_post : str, optional
        Statements run at a presynaptic spike (after the delay) / a postsynaptic spike
        (no delay; all on_pre of a step before all on_post): ``"ge_post += w"``,
        ``"v += we"``.  ``x_pre``/``x_post`` are explicit; an unsuffixed name is a
        synapse variable or parameter first, else a variable of the postsynaptic
        population (Brian2's rule).
    connect : a connectivity rule (``FixedProbability(0.02)``, ...)
    params : dict, optional
        Shared constants (a number in the unit declared in ``model``, else a string with
        a unit, such as ``"0.162 mV"``).
    init : dict, optional
        Per-synapse variable -> value (number, string, array, Distribution).
    delay : number (ms), string, array or Distribution
        Rounded to whole steps; a scalar gives one delay for all synapses.
    name : str, optional
    method : {None, "euler", "exponential_euler"}
        Integration of the clock-driven equations; None: exponential_euler when every
        one is linear in its own variable, else euler.

    Examples
    --------
    Pair-based STDP (Song, Miller & Abbott 2000, as in Brian2's documentation):

    >>> from biosnn import Model
    >>> from biosnn.network import Population, SpikeGenerator, Synapses, OneToOne
    >>> cell = Model("dv/dt = -v/(10*ms) : volt", threshold="v > 1*mV", reset="v = 0*mV")
    >>> P = Population(cell, 1, method="exact")
    >>> stdp = Synapses(SpikeGenerator(1, [0], [5.0]), P, model='''
    ...     w : 1
    ...     dapre/dt = -apre/taupre : 1 (event-driven)
    ...     dapost/dt = -apost/taupost : 1 (event-driven)''',
    ...     on_pre="v_post += w*mV; apre += Apre; w = clip(w + apost, 0, wmax)",
    ...     on_post="apost += Apost; w = clip(w + apre, 0, wmax)",
    ...     params={"taupre": "20 ms", "taupost": "20 ms", "Apre": 0.01,
    ...             "Apost": -0.0105, "wmax": 1.0}, init={"w": 0.5}, connect=OneToOne())
    >>> stdp.event_driven
    ('apre', 'apost')
    """

    def __init__(
        self,
        pre,
        post,
        model=None,
        on_pre=None,
        on_post=None,
        connect=None,
        params=None,
        init=None,
        delay=0,
        name=None,
        method=None,
        *,
        _origin=None,
    ):
        if not isinstance(pre, _Source):
            raise ModelError(
                f"pre must be a Population, a slice of one, a PoissonGroup or "
                f"a SpikeGenerator, not {type(pre).__name__}"
            )
        if not isinstance(post, (Population, Subgroup)):
            raise ModelError(
                f"post must be a Population or a slice of one, not {type(post).__name__}"
            )
        if connect is None or not hasattr(connect, "build"):
            raise ModelError(
                "Synapses need connect=<a connectivity rule>, e.g. connect=FixedProbability(0.02)"
            )
        for what, text in (("model", model), ("on_pre", on_pre), ("on_post", on_post)):
            if text is not None and not isinstance(text, str):
                raise ModelError(f"{what} must be a string, not {type(text).__name__}")
        self.pre, self.post = pre, post
        self.model_text = model or ""
        self.on_pre, self.on_post = on_pre or "", on_post or ""
        self.connect = connect
        self.params = dict(params or {})
        self.init = dict(init or {})
        self.delay = delay
        self.name = _check_name(name, None)
        # where the texts come from (network files): (file, {"model": line, "on_pre":
        # line, "on_post": line}) - errors name the file and the line in it
        self._origin = _origin
        source, first = self.text_origin("model")
        self._declared, self._odes, self._summed = _synapse_model(self.model_text, source, first)
        if not (on_pre or on_post or self._summed or self.clock_driven):
            raise ModelError(
                "Synapses need on_pre and/or on_post statements, a summed "
                "variable or a clock-driven equation"
            )
        if method not in SYNAPSE_METHODS:
            raise ModelError(
                f"unknown method {method!r} for synapses; the methods are: "
                "None (exponential_euler when every clock-driven equation is "
                "linear in its own variable, else euler), "
                + ", ".join(m for m in SYNAPSE_METHODS if m)
            )
        self.method = method
        for key in self.params:
            if not isinstance(key, str) or not key.isidentifier():
                raise ModelError(f"synapse parameter names must be identifiers, not {key!r}")
            if key in self._odes:
                raise ModelError(
                    f"{key} is a differential equation of the synapse model, "
                    "not a parameter; give its initial value in init"
                )
        for target, _ in self._summed:
            if target not in post.model.params:
                raise ModelError(
                    f"the summed variable {target}_post must be a parameter of "
                    f"the postsynaptic model {post.model.name} (declare "
                    f"'{target} : unit' there); its parameters: "
                    f"{', '.join(post.model.params) or 'none'}"
                )
        for key in self.init:
            if key not in self._declared or key in self.params:
                raise ModelError(
                    f"init gives {key}, which is not a per-synapse variable "
                    f"declared in the synapse model ({self.model_text!r})"
                )
        self.state = None  # filled by the network (arrays)

    def text_origin(self, what: str) -> tuple:
        """``(file, line in the file of the first line)`` of the text ``what`` (``"model"``,
        ``"on_pre"``, ``"on_post"``), ``(None, 1)`` when not read from a file.
        """
        source, lines = self._origin or (None, {})
        if not lines.get(what):  # not from a file, or from a library synapse file
            return None, 1
        return source, lines[what]

    @property
    def variables(self) -> tuple:
        """Names of the per-synapse variables (declared ones and ODE variables)."""
        return tuple(n for n in self._declared if n not in self.params)

    @property
    def event_driven(self) -> tuple:
        """Names of the event-driven variables (advanced exactly at events)."""
        return tuple(n for n, (k, _) in self._odes.items() if k == "event-driven")

    @property
    def clock_driven(self) -> tuple:
        """Names of the clock-driven variables (integrated every step)."""
        return tuple(n for n, (k, _) in self._odes.items() if k == "clock-driven")

    @property
    def summed(self) -> tuple:
        """Names of the postsynaptic parameters written by summed variables."""
        return tuple(t for t, _ in self._summed)

    def __repr__(self):
        return f"Synapses({self.pre.name} -> {self.post.name}, name={self.name!r})"


#: Integration methods of clock-driven synapse equations (None: chosen, see Synapses).
SYNAPSE_METHODS = (None, "euler", "exponential_euler")

_SYN_FLAG = re.compile(r"\(\s*(event-driven|clock-driven|summed)\s*\)\s*$")


def _synapse_model(text: str, source=None, first_line: int = 1):
    """Read a synapse model: declarations, differential equations and summed variables.

    ``source`` and ``first_line`` (the file and its line of the text's first line) go
    into the statements, so that errors found later, when the network lowers them, name
    the line in the file.

    Returns ``(declared, odes, summed)``: ``declared`` name -> unit text of every
    per-synapse variable or shared constant (ODE variables included), ``odes`` name ->
    (``"event-driven"`` or ``"clock-driven"``, Statement), ``summed`` a list of (name of
    the postsynaptic parameter, Statement).

    The flags ``(event-driven)``, ``(clock-driven)`` and ``(summed)`` are Brian2's; they
    are taken off the line before the equation parser reads it.
    """
    from biosnn.equations import parser

    if not text.strip():
        return {}, {}, []
    lines, flags = [], {}
    for number, raw in enumerate(text.splitlines(), start=1):
        code, hash_, comment = raw.partition("#")
        match = _SYN_FLAG.search(code)
        if match:
            flags[number] = match.group(1)
            code = code[: match.start()]
        lines.append(code + hash_ + comment)
    statements = parser.parse_equations("\n".join(lines), source=source, first_line=first_line)
    starts = [st.line - first_line + 1 for st in statements]
    owner = {}
    for number, flag in flags.items():
        before = [k for k, first in enumerate(starts) if first <= number]
        if not before:
            raise ModelError(
                f"synapse model line {number}: the flag ({flag}) has no equation",
                source=source,
                line=first_line + number - 1,
            )
        owner[before[-1]] = flag
    declared, odes, summed = {}, {}, []
    for k, st in enumerate(statements):
        flag = owner.get(k)
        if st.kind == "param" and flag is None:
            declared[st.name] = st.unit
        elif st.kind == "diff" and flag in ("event-driven", "clock-driven"):
            if st.flags:
                raise ModelError(
                    f"synapse model line {st.text!r}: the flags "
                    f"({', '.join(st.flags)}) are not supported in synapses",
                    source=source,
                    line=st.line,
                )
            declared[st.name] = st.unit
            odes[st.name] = (flag, st)
        elif st.kind == "alias" and flag == "summed":
            if not st.name.endswith("_post"):
                raise ModelError(
                    f"synapse model line {st.text!r}: a summed variable names a "
                    "parameter of the postsynaptic population with the suffix "
                    "_post, such as 'I_gap_post = g*(v_pre - v_post) : amp "
                    "(summed)'",
                    source=source,
                    line=st.line,
                )
            target = st.name[: -len("_post")]
            if target in [t for t, _ in summed]:
                raise ModelError(
                    f"synapse model: {st.name} is summed twice", source=source, line=st.line
                )
            summed.append((target, st))
        elif st.kind == "diff":
            raise ModelError(
                f"synapse model line {st.text!r}: a differential equation in a "
                "synapse model needs the flag (event-driven) or (clock-driven)",
                source=source,
                line=st.line,
            )
        elif st.kind == "alias":
            raise ModelError(
                f"synapse model line {st.text!r}: only summed variables "
                "('x_post = expr : unit (summed)') may be written 'x = expr' in a "
                "synapse model",
                source=source,
                line=st.line,
            )
        else:
            raise ModelError(
                f"synapse model line {st.text!r}: the flag ({flag}) belongs to a "
                "differential equation (event-driven, clock-driven) or to "
                "'x_post = expr : unit' (summed)",
                source=source,
                line=st.line,
            )
    return declared, odes, summed


class SpikeMonitor:
    """Records the spikes of a source: ``.i`` (indices), ``.t`` (ms), ``.count``,
    ``.trains()``.

    Parameters
    ----------
    source : Population, Subgroup, PoissonGroup or SpikeGenerator
    indices : array of int, optional
        Record only these neurons (indices of the source).
    """

    def __init__(self, source, indices=None):
        if not isinstance(source, _Source):
            raise ModelError(
                f"a SpikeMonitor records a population or spike source, not {type(source).__name__}"
            )
        self.source = source
        self.indices = None if indices is None else np.unique(np.asarray(indices, int))
        if (
            self.indices is not None
            and self.indices.size
            and (self.indices.min() < 0 or self.indices.max() >= source.n)
        ):
            raise ModelError(f"SpikeMonitor indices must be in [0, {source.n})")
        self._i = np.zeros(0, np.int32)
        self._step = np.zeros(0, np.int64)
        self._chunks = []  # recorded (i, step) pieces not yet joined into _i, _step
        self._dt = None

    def _append(self, i, step) -> None:
        """Add recorded spikes (the engines call this); refuses to outgrow memory."""
        if not len(i):
            return
        total = self.n + len(i)
        check_memory(
            total * 12 * 2,
            f"the SpikeMonitor of {self.source.name}",
            "record fewer neurons (indices=...), or run shorter pieces and "
            "empty the monitor in between",
        )
        self._chunks.append((np.asarray(i, np.int32), np.asarray(step, np.int64)))

    def _join(self) -> None:
        if self._chunks:
            self._i = np.concatenate([self._i] + [c[0] for c in self._chunks])
            self._step = np.concatenate([self._step] + [c[1] for c in self._chunks])
            self._chunks = []

    @property
    def n(self) -> int:
        """Number of spikes recorded."""
        return int(self._i.size) + sum(c[0].size for c in self._chunks)

    @property
    def i(self) -> np.ndarray:
        self._join()
        return self._i.astype(np.int64)

    @property
    def t(self) -> np.ndarray:
        """Spike times in ms (step ends: ``(step + 1)*dt``)."""
        self._join()
        return (self._step + 1) * (self._dt or 0.0)

    @property
    def count(self) -> np.ndarray:
        self._join()
        return np.bincount(self._i, minlength=self.source.n)

    def trains(self) -> list:
        self._join()
        order = np.argsort(self._i, kind="stable")
        i, t = self._i[order], self.t[order]
        cuts = np.searchsorted(i, np.arange(self.source.n + 1))
        return [t[cuts[k] : cuts[k + 1]] for k in range(self.source.n)]


class StateMonitor:
    """Records states of some neurons: ``.t`` (ms) and ``[var]`` (len(indices), T) in the
    model's display units.  Records the initial state and then every ``every`` steps.
    """

    def __init__(self, population, variables, indices, every=1):
        if not isinstance(population, (Population, Subgroup)):
            raise ModelError("a StateMonitor records a Population (or a slice of one)")
        if isinstance(variables, str):
            variables = [variables]
        model = population.model
        for v in variables:
            if v not in model.states:
                raise ModelError(
                    f"{v} is not a state of model {model.name}; states: {', '.join(model.states)}"
                )
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= population.n:
            raise ModelError(
                f"StateMonitor indices must be a non-empty list in [0, {population.n})"
            )
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ModelError(f"every must be a positive whole number of steps, not {every!r}")
        self.population, self.variables = population, tuple(variables)
        self.indices, self.every = idx, int(every)
        self._data = [np.zeros((len(self.variables), idx.size, 0))]
        self._steps = [np.zeros(0, np.int64)]
        self._dt = None

    @property
    def t(self) -> np.ndarray:
        return np.concatenate(self._steps) * (self._dt or 0.0)

    def __getitem__(self, var):
        if var not in self.variables:
            raise KeyError(f"{var} was not recorded; recorded: {', '.join(self.variables)}")
        k = self.variables.index(var)
        data = np.concatenate([d[k] for d in self._data], axis=1)
        return self.population.model.from_internal(var, data)

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.__dict__.get("variables", ()):
            raise AttributeError(name)
        return self[name]


class RateMonitor:
    """Population rate: ``.t`` (ms, bin ends) and ``.rate`` (Hz), per step or per bin."""

    def __init__(self, source, bin=None):
        if not isinstance(source, _Source):
            raise ModelError("a RateMonitor records a population or spike source")
        self.source, self.bin = source, bin
        self._counts = [np.zeros(0, np.int64)]
        self._dt = None

    @property
    def counts(self) -> np.ndarray:
        return np.concatenate(self._counts)

    @property
    def t(self) -> np.ndarray:
        k = self._per_bin()
        n = self.counts.size // k
        return (np.arange(n) + 1) * k * self._dt

    def _per_bin(self) -> int:
        if self.bin is None:
            return 1
        from biosnn.units import parse_time

        b = parse_time(self.bin, "the bin of a RateMonitor", error=ModelError)
        k = int(round(b / self._dt))
        if k < 1 or abs(k * self._dt - b) > 1e-9 * max(1.0, b):
            raise ModelError(
                f"the bin of a RateMonitor must be a whole number of steps, not {self.bin!r}"
            )
        return k

    @property
    def rate(self) -> np.ndarray:
        k = self._per_bin()
        c = self.counts
        n = c.size // k
        c = c[: n * k].reshape(n, k).sum(axis=1)
        return c / (self.source.n * k * self._dt * 1e-3)
