"""Network files: a whole network (models, populations, sources, synapses, monitors) as
data in a TOML file, or as a Python script; the network library (``models/networks/``).

A network file is read like a model file (see docs/network_files.md)::

    name = "cuba"
    dt = "0.1 ms"
    duration = "1000 ms"
    seed = 1

    [models.lif]                      # an inline model (the keys of a model file) ...
    equations = "dv/dt = (El - v)/taum : volt"
    [models.lif.parameters]
    ...
    [models.hh]                       # ... or a library model
    library = "hodgkin_huxley"

    [populations.exc]
    model = "lif"
    n = 3200
    method = "exact"
    init = { v = "uniform(-60 mV, -50 mV)" }

    [sources.noise]
    kind = "poisson"
    n = 100
    rate = "5 Hz"

    [synapses.ee]
    pre = "exc"
    post = "exc"
    on_pre = "ge += we"
    params = { we = "1.62 mV" }
    connect = { rule = "fixed_probability", p = 0.02 }

    [monitors]
    spikes = ["exc"]

Reading a TOML file never runs code: the file is parsed by ``tomllib``, equations by the
whitelist parser, values by :func:`biosnn.network.values.parse_value`.  Errors are one
sentence naming the file, the table, the key and (when it can be found) the line.

A **Python** network file (``.py``) is run as a script (it runs arbitrary code: only run
files you trust) and must define ``network`` (a :class:`~biosnn.network.Network`); it may
define ``duration``, ``name`` and ``title``.

Examples
--------
>>> from biosnn.network.files import load_network
>>> net = load_network("cuba", seed=1)
>>> net.run(net.info.duration)
>>> int(net.info.spike_monitors["exc"].count.sum())  # 3200 excitatory cells, 1 s
17024
"""

from __future__ import annotations

import copy
import difflib
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biosnn.errors import BiosnnError, ModelError
from biosnn.names import RULE, from_stem, is_identifier
from biosnn.network import connectivity as _conn
from biosnn.network.connectivity import Blocks  # noqa: F401 - kept importable from here

__all__ = [
    "load_network",
    "read_network",
    "find_network",
    "list_networks",
    "network_dirs",
    "NetworkInfo",
    "Blocks",
]

_TOP = (
    "name",
    "title",
    "description",
    "reference",
    "dt",
    "duration",
    "seed",
    "models",
    "populations",
    "sources",
    "synapses",
    "monitors",
)
_MODEL_KEYS = (
    "library",
    "preset",
    "name",
    "title",
    "description",
    "reference",
    "time",
    "equations",
    "parameters",
    "initial",
    "events",
    "presets",
    "synapses",
)
_POP_KEYS = ("model", "n", "method", "params", "init")
_SOURCE_KEYS = {
    "poisson": ("kind", "n", "rate"),
    "generator": ("kind", "n", "indices", "times"),
    "pulse_packet": ("kind", "a", "sigma", "t"),
}
_SYN_KEYS = (
    "pre",
    "post",
    "model",
    "on_pre",
    "on_post",
    "params",
    "init",
    "connect",
    "method",
    "library",
    "target",
    "w",
    "voltage",
    "delay",
)
_MONITOR_KEYS = ("spikes", "states", "rates")
_STATE_KEYS = ("population", "variables", "indices", "every")
_RATE_KEYS = ("bin",)


#: rule name in a file -> (class, required keys, optional keys)
_RULES = {
    "all_to_all": (_conn.AllToAll, (), ("allow_self",)),
    "one_to_one": (_conn.OneToOne, (), ()),
    "fixed_probability": (_conn.FixedProbability, ("p",), ("allow_self",)),
    "fixed_in_degree": (_conn.FixedInDegree, ("k",), ("allow_self",)),
    "fixed_out_degree": (_conn.FixedOutDegree, ("k",), ("allow_self",)),
    "distance_dependent": (_conn.DistanceDependent, ("p0", "sigma"), ("allow_self",)),
    "from_arrays": (_conn.FromArrays, ("i", "j"), ("values", "allow_self")),
    "blocks": (_conn.Blocks, ("pre_size",), ("post_size", "allow_self")),
}


# -- what load_network returns besides the Network ------------------------------------------


@dataclass
class NetworkInfo:
    """What a network file says besides the network itself (``net.info``).

    Attributes
    ----------
    name, title, description, reference : str
    path : str
        The file read.
    duration : float or None
        Default run time (ms).
    spike_monitors, rate_monitors : dict
        population or source name -> SpikeMonitor / RateMonitor.
    state_monitors : list of StateMonitor
    populations : dict
        name -> Population.
    synapses : dict
        name -> Synapses.
    """

    name: str
    title: str = ""
    description: str = ""
    reference: str = ""
    path: str = ""
    duration: float | None = None
    spike_monitors: dict = field(default_factory=dict)
    rate_monitors: dict = field(default_factory=dict)
    state_monitors: list = field(default_factory=list)
    populations: dict = field(default_factory=dict)
    synapses: dict = field(default_factory=dict)


# -- the library -----------------------------------------------------------------------------


def network_dirs() -> list:
    """Directories searched for network files: ``networks/`` under each model directory.

    Examples
    --------
    >>> all(p.name == "networks" for p in network_dirs())
    True
    """
    from biosnn.equations.files import library_dirs

    return [d / "networks" for d in library_dirs()]


def _network_files() -> dict:
    found = {}
    for directory in network_dirs():
        if directory.is_dir():
            for path in sorted(list(directory.glob("*.toml")) + list(directory.glob("*.py"))):
                found.setdefault(path.stem, path)
    return found


def find_network(name_or_path) -> Path:
    """The path of a network given by library name (``"cuba"``) or file path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if isinstance(name_or_path, Path) or text.endswith((".toml", ".py")) or os.sep in text:
        if not path.is_file():
            raise ModelError(f"no network file {text!r}")
        return path
    files = _network_files()
    if text in files:
        return files[text]
    close = difflib.get_close_matches(text, list(files), n=3)
    hint = f"; did you mean {' or '.join(close)}" if close else ""
    raise ModelError(
        f"no network named {text!r} in the library{hint}. Available: "
        f"{', '.join(sorted(files)) or 'none'}."
    )


def list_networks() -> list:
    """``(name, title)`` of every network of the library, sorted by name.

    Examples
    --------
    >>> "cuba" in dict(list_networks())
    True
    """
    from biosnn.equations.files import _toml

    out = []
    for name, path in sorted(_network_files().items()):
        title = ""
        if path.suffix == ".toml":
            try:
                title = _toml().loads(path.read_text(encoding="utf-8")).get("title", "")
            except Exception:  # noqa: BLE001 - a listing never fails on one bad file
                title = "(unreadable network file)"
        out.append((name, title if isinstance(title, str) else ""))
    return out


# -- locating keys in the raw text (for line numbers) ---------------------------------------


class _Where:
    """Error messages that name the file, the table, the key and the line."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")

    def __init__(self, path: str, raw: str):
        self.path = path
        self.lines = raw.splitlines()
        self.headers = {}
        for k, line in enumerate(self.lines):
            m = self._HEADER.match(line)
            if m:
                name = re.sub(r"\s*\.\s*", ".", m.group(1)).replace('"', "")
                self.headers.setdefault(name, k)

    def line(self, table: str, key: str | None = None) -> int | None:
        """1-based line of ``key`` in ``[table]`` (or of the header), else None."""
        parts = table.split(".")
        # the key may sit in [table] or, as an inline table, in a parent table
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            want = key if cut == len(parts) else parts[cut]
            if head not in self.headers:
                continue
            start = self.headers[head]
            if want is None:
                return start + 1
            pattern = re.compile(rf"^\s*\"?{re.escape(want)}\"?\s*=")
            for k in range(start + 1, len(self.lines)):
                if self._HEADER.match(self.lines[k]):
                    break
                if pattern.match(self.lines[k]):
                    return k + 1
            return start + 1
        if key is not None and not table:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for k, text in enumerate(self.lines):
                if self._HEADER.match(text):
                    break
                if pattern.match(text):
                    return k + 1
        return None

    def error(self, table: str, key: str | None, message: str) -> ModelError:
        label = f"[{table}]" if table else ""
        if key:
            label = f"{label} {key}" if label else key
        return ModelError(
            f"{label}: {message}" if label else message,
            source=self.path,
            line=self.line(table, key),
        )


def _text_line(where, table: str, key: str) -> int | None:
    """The line in the file of the first line of the string ``key`` of ``[table]``: the
    key's line, or the next one when the value opens with \"\"\" or \'\'\' alone on
    it (TOML drops that first newline).
    """
    line = where.line(table, key)
    if line is None:
        return None
    text = where.lines[line - 1] if line <= len(where.lines) else ""
    if re.match(rf'^\s*"?{re.escape(key)}"?\s*=\s*("""|\'\'\')\s*$', text):
        line += 1
    return line


def _clean(exc: BaseException) -> str:
    """The message of a library error without its own source prefix."""
    text = getattr(exc, "message", None) or str(exc)
    return " ".join(str(text).split())


# -- reading ---------------------------------------------------------------------------------


def _check_keys(where, table, data, allowed):
    if not isinstance(data, dict):
        raise where.error(table, None, "must be a table")
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise where.error(table, key, f"unknown key{hint}; allowed: {', '.join(allowed)}")


def _need(where, table, data, key, kinds, what):
    if key not in data:
        raise where.error(table, key, f"missing; give {what}")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise where.error(table, key, f"must be {what}, not {value!r}")
    return value


def _count(where, table, data, key, default=None):
    if key not in data and default is not None:
        return default
    value = _need(where, table, data, key, numbers.Integral, "a whole number >= 1")
    if value < 1:
        raise where.error(table, key, f"must be a whole number >= 1, not {value!r}")
    return int(value)


def _time_ms(where, table, key, value) -> float:
    from biosnn import units

    if isinstance(value, bool):
        raise where.error(table, key, f"must be a time such as '10 ms', not {value!r}")
    if isinstance(value, numbers.Real):
        out = float(value)
    elif isinstance(value, str):
        try:
            out, dim, _ = units.parse_quantity(value)
        except BiosnnError as exc:
            raise where.error(table, key, _clean(exc)) from None
        if dim != units.TIME():
            raise where.error(table, key, f"must be a time such as '10 ms', not {value!r}")
    else:
        raise where.error(table, key, f"must be a time such as '10 ms', not {value!r}")
    if not math.isfinite(out):
        raise where.error(table, key, f"must be finite, not {value!r}")
    return float(out)


def _values(where, table, key, data) -> dict:
    """A table of values (numbers, quantities, distribution strings, arrays)."""
    from biosnn.network.values import parse_value

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise where.error(table, key, 'must be a table such as { v = "-65 mV" }')
    out = {}
    for name, value in data.items():
        if isinstance(value, list):
            if not all(
                isinstance(v, (numbers.Real, str)) and not isinstance(v, bool) for v in value
            ):
                raise where.error(
                    table, f"{key}.{name}", "an array must hold numbers or strings with units"
                )
            out[name] = value
            continue
        try:
            out[name] = parse_value(value)
        except BiosnnError as exc:
            raise where.error(table, f"{key}.{name}", _clean(exc)) from None
    return out


def _set_path(data: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            raise ModelError(
                f"cannot set {dotted!r}: the file has no table "
                f"[{'.'.join(parts[: parts.index(part) + 1])}]"
            )
        node = node[part]
    node[parts[-1]] = value


def _read_toml(path: Path):
    from biosnn.equations.files import _read_toml as read

    return read(path, "network file")


def _build_model(where, name, table):
    from biosnn.equations.files import load_model
    from biosnn.equations.model import Model, Origin

    t = f"models.{name}"
    _check_keys(where, t, table, _MODEL_KEYS)
    synapses = table.get("synapses")
    if "library" in table:
        extra = [k for k in table if k not in ("library", "preset", "synapses")]
        if extra:
            raise where.error(
                t, extra[0], "a library model takes only 'preset' and 'synapses' besides 'library'"
            )
        lib = _need(where, t, table, "library", str, "a library model name")
        preset = table.get("preset")
        try:
            model = load_model(lib, preset=preset)
        except BiosnnError as exc:
            raise where.error(t, "library" if preset is None else "preset", _clean(exc)) from None
    else:
        eqs = _need(where, t, table, "equations", str, "the equations (a string)")
        events = table.get("events", {})
        _check_keys(where, f"{t}.events", events, ("threshold", "reset", "refractory"))
        for sub in ("parameters", "initial", "presets"):
            if sub in table and not isinstance(table[sub], dict):
                raise where.error(t, sub, "must be a table")
        eq_line = where.line(t, "equations") or 1
        if re.match(
            r'^\s*equations\s*=\s*("""|\'\'\')\s*$',
            where.lines[eq_line - 1] if eq_line <= len(where.lines) else "",
        ):
            eq_line += 1
        labels = (
            ("params", f"[{t}.parameters]"),
            ("initial", f"[{t}.initial]"),
            ("threshold", f"[{t}.events] threshold"),
            ("reset", f"[{t}.events] reset"),
            ("refractory", f"[{t}.events] refractory"),
        )
        try:
            model = Model(
                eqs,
                params=table.get("parameters"),
                initial=table.get("initial"),
                threshold=events.get("threshold"),
                reset=events.get("reset"),
                refractory=events.get("refractory"),
                name=table.get("name", name),
                time=table.get("time"),
                presets=table.get("presets"),
                description=table.get("description", ""),
                reference=table.get("reference", ""),
                _origin=Origin(
                    source=where.path,
                    equations_line=eq_line,
                    labels=labels,
                    lines=_name_lines(where, t, table),
                ),
            )
        except BiosnnError as exc:
            if isinstance(exc, ModelError) and exc.source:
                raise
            raise where.error(t, None, _clean(exc)) from None
        if "preset" in table:
            try:
                model = model.with_preset(table["preset"])
            except BiosnnError as exc:
                raise where.error(t, "preset", _clean(exc)) from None
    if synapses is not None:
        from biosnn.network.synapse_models import with_synapses

        if not isinstance(synapses, dict):
            raise where.error(t, "synapses", 'must be a table such as { I_syn = "exp_current" }')
        try:
            model = with_synapses(model, synapses)
        except BiosnnError as exc:
            raise where.error(t, "synapses", _clean(exc)) from None
    return model


def _part(where, table, key, text, groups):
    """``"exc"`` or ``"exc[0:100]"`` -> the object (a slice of it for the second form)."""
    if not isinstance(text, str):
        raise where.error(table, key, f"must name a population or source, not {text!r}")
    m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(?:\[\s*(\d*)\s*:\s*(\d*)\s*\])?\s*", text)
    if not m:
        raise where.error(
            table, key, f"{text!r} is not a name such as 'exc' or a slice such as 'exc[0:100]'"
        )
    name = m.group(1)
    if name not in groups:
        close = difflib.get_close_matches(name, list(groups), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise where.error(table, key, f"no population or source named {name!r}{hint}")
    obj = groups[name]
    if m.group(2) is None and m.group(3) is None and "[" not in text:
        return obj
    if not hasattr(obj, "__getitem__"):
        raise where.error(table, key, f"{name!r} is a source; only populations can be sliced")
    start = int(m.group(2)) if m.group(2) else 0
    stop = int(m.group(3)) if m.group(3) else obj.n
    if not 0 <= start < stop <= obj.n:
        raise where.error(
            table, key, f"the slice [{start}:{stop}] is not inside the {obj.n} neurons of {name!r}"
        )
    return obj[start:stop]


def _rule(where, table, spec):
    if isinstance(spec, str):
        spec = {"rule": spec}
    if not isinstance(spec, dict):
        raise where.error(
            table, "connect", 'must be a table such as { rule = "fixed_probability", p = 0.02 }'
        )
    name = spec.get("rule")
    if name not in _RULES:
        close = difflib.get_close_matches(str(name), list(_RULES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise where.error(
            table, "connect", f"unknown rule {name!r}{hint}; rules: {', '.join(_RULES)}"
        )
    cls, required, optional = _RULES[name]
    kwargs = {}
    for key, value in spec.items():
        if key == "rule":
            continue
        if key not in required + optional:
            raise where.error(
                table,
                "connect",
                f"rule {name!r} has no parameter {key!r}; "
                f"it takes {', '.join(required + optional) or 'none'}",
            )
        kwargs[key] = value
    missing = [k for k in required if k not in kwargs]
    if missing:
        raise where.error(table, "connect", f"rule {name!r} needs {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (BiosnnError, ValueError, TypeError) as exc:
        raise where.error(table, "connect", _clean(exc)) from None


def _source(where, name, table, seed, index):
    from biosnn.network.objects import PoissonGroup, SpikeGenerator

    t = f"sources.{name}"
    if not isinstance(table, dict):
        raise where.error(t, None, "must be a table")
    kind = table.get("kind")
    if kind not in _SOURCE_KEYS:
        raise where.error(t, "kind", f"must be one of {', '.join(_SOURCE_KEYS)}, not {kind!r}")
    _check_keys(where, t, table, _SOURCE_KEYS[kind])
    try:
        if kind == "poisson":
            n = _count(where, t, table, "n")
            rate = _need(
                where,
                t,
                table,
                "rate",
                (numbers.Real, str, list),
                "a rate such as '5 Hz' (or a number in Hz, a list of n rates, an "
                "expression of t, or a .npy file)",
            )
            if isinstance(rate, str):
                rate = _rate_value(where, t, rate)
            return PoissonGroup(n, rate, name=name)
        if kind == "generator":
            n = _count(where, t, table, "n")
            idx = _need(where, t, table, "indices", list, "a list of neuron indices")
            times = _need(where, t, table, "times", list, "a list of times (ms or strings)")
            times = [_time_ms(where, t, "times", v) for v in times]
            return SpikeGenerator(n, idx, times, name=name)
        # pulse_packet: a neurons, one spike each, at t + N(0, sigma)
        a = _count(where, t, table, "a")
        sigma = _time_ms(where, t, "sigma", table.get("sigma", 0.0))
        t0 = _time_ms(
            where,
            t,
            "t",
            _need(
                where,
                t,
                table,
                "t",
                (numbers.Real, str),
                "the packet's centre time such as '10 ms'",
            ),
        )
        if sigma < 0:
            raise where.error(t, "sigma", "must not be negative")
        times = pulse_packet_times(a, t0, sigma, seed, index)
        return SpikeGenerator(a, np.arange(a), times, name=name)
    except ModelError as exc:
        if exc.source:
            raise
        raise where.error(t, None, _clean(exc)) from None


class RateFunction:
    """A Poisson rate written as an expression of t (``"5 Hz + 2 Hz*sin(2*pi*t/(100
    ms))"``): parsed by the safe parser (:mod:`biosnn.equations.parser`, never ``eval``),
    units checked (the result must be a frequency), printed as NumPy code from the sympy
    tree.  Called with t in ms (a number or an array), it returns the rate in Hz.

    >>> f = RateFunction("5 Hz + 2 Hz*sin(2*pi*t/(100 ms))")
    >>> [round(float(x), 12) for x in f(np.array([0.0, 25.0]))]
    [5.0, 7.0]
    """

    def __init__(self, text: str):
        import sympy as sp

        from biosnn import units
        from biosnn.equations import parser
        from biosnn.network._lower import PyPrinter

        self.text = text
        symbol = sp.Symbol("t", real=True)
        value, _ = parser.parse_expression(
            _quantities(text),
            {"t": (symbol, units.TIME())},
            expected=units.parse_unit("Hz")[1],
            context="the rate",
        )
        source = (
            f"def rate(t):\n    return 1000.0*({PyPrinter({'t': 't'}).doprint(value)}) + 0.0*t\n"
        )
        ns = {"_np": np, "M_PI": math.pi, "M_E": math.e, "INFINITY": math.inf}
        exec(compile(source, f"<rate {text}>", "exec"), ns)  # noqa: S102 - printed from sympy
        self._fn, self.source = ns["rate"], source

    def __call__(self, t):
        return self._fn(np.asarray(t, dtype=float))

    def __reduce__(self):
        # pickled as its text, parsed and printed again when unpickled
        return (RateFunction, (self.text,))

    def __repr__(self):
        return f"RateFunction({self.text!r})"


_QUANTITY = re.compile(
    r"(?<![\w.])(\d[\d.]*(?:[eE][+-]?\d+)?)\s+"
    r"(?!(?:and|or|not|if|else|in|is)\b)([A-Za-z_]\w*)"
)


def _quantities(text: str) -> str:
    """``"5 Hz + 2 Hz*sin(2*pi*t/(100 ms))"`` -> ``"5*Hz + 2*Hz*sin(2*pi*t/(100*ms))"``:
    a number followed by a unit name, as in quantity strings, is their product.
    """
    return _QUANTITY.sub(r"\1*\2", text)


def _rate_value(where, table, text: str):
    """A rate string of a network file: a quantity (``"5 Hz"``), an expression of t, or
    the path of a .npy file (relative to the network file) of rates in Hz.
    """
    from biosnn.equations import parser

    key = "rate"
    if text.strip().endswith(".npy"):
        base = Path(where.path).parent if where.path else Path.cwd()
        path = (base / text.strip()).resolve()
        if not path.is_file():
            raise where.error(table, key, f"the rate file {text!r} does not exist ({path})")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise where.error(
                table, key, f"cannot read the rate file {text!r}: {_clean(exc)}"
            ) from None
        if arr.dtype.kind not in "iuf" or arr.ndim not in (1, 2):
            raise where.error(
                table,
                key,
                f"the rate file {text!r} must hold a 1-d (n) or "
                f"2-d (steps, n) array of numbers (Hz), not {arr.dtype} "
                f"with shape {arr.shape}",
            )
        return np.asarray(arr, dtype=float)
    try:
        names = parser.parse_expression_text(_quantities(text)).names
    except BiosnnError:
        names = ()
    if "t" not in names:
        return text
    try:
        return RateFunction(text)
    except BiosnnError as exc:
        raise where.error(table, key, f"{text!r}: {_clean(exc)}") from None


def pulse_packet_times(a: int, t: float, sigma: float, seed: int, stream: int = 0):
    """Times (ms) of a pulse packet: ``a`` spikes at ``t + sigma*N(0, 1)`` (Diesmann et al.
    1999), drawn from ``default_rng([seed, stream])``; times below 0.1 ms are clipped to
    0.1 ms (the first step a spike generator can use at dt = 0.1 ms).

    Examples
    --------
    >>> pulse_packet_times(3, 10.0, 0.0, seed=1).tolist()
    [10.0, 10.0, 10.0]
    """
    rng = np.random.default_rng([int(seed), int(stream)])
    return np.maximum(t + sigma * rng.standard_normal(int(a)), 0.1)


def read_network(path_or_name, *, dt=None, duration=None, seed=None, backend="auto", changes=None):
    """Build the network of a file; return ``(network, info)``.  See :func:`load_network`."""
    path = find_network(path_or_name)
    if path.suffix == ".py":
        return _read_python(path, dt=dt, duration=duration, seed=seed, backend=backend)
    raw, data = _read_toml(path)
    where = _Where(str(path), raw)
    if changes:
        data = copy.deepcopy(data)
        for dotted, value in dict(changes).items():
            try:
                _set_path(data, dotted, value)
            except ModelError as exc:
                raise ModelError(_clean(exc), source=str(path)) from None
    return _build(where, data, path, dt=dt, duration=duration, seed=seed, backend=backend)


def _build(where, data, path, *, dt, duration, seed, backend):
    from biosnn.network import (
        Network,
        Population,
        RateMonitor,
        SpikeMonitor,
        StateMonitor,
        Synapses,
    )

    _check_keys(where, "", data, _TOP)
    for key in ("name", "title", "description", "reference"):
        if key in data and not isinstance(data[key], str):
            raise where.error("", key, "must be a string")
    name = data.get("name", from_stem(path.stem))
    if not is_identifier(name):
        raise where.error("", "name", f"{name!r} is not a valid network name: {RULE}")
    info = NetworkInfo(
        name=name,
        title=data.get("title", ""),
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        path=str(path),
    )
    dt_ms = _time_ms(where, "", "dt", data.get("dt", 0.1)) if dt is None else float(dt)
    if not dt_ms > 0:
        raise where.error("", "dt", "must be positive")
    if duration is not None:
        info.duration = float(duration)
    elif "duration" in data:
        info.duration = _time_ms(where, "", "duration", data["duration"])
    if seed is None:
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise where.error("", "seed", f"must be a whole number, not {seed!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))

    models = {}
    for name, table in _table(where, data, "models").items():
        models[name] = _build_model(where, name, table)

    groups, objects = {}, []
    for name, table in _table(where, data, "populations").items():
        t = f"populations.{name}"
        _check_keys(where, t, table, _POP_KEYS)
        mname = _need(
            where, t, table, "model", str, "a model name ([models.NAME] or a library model)"
        )
        n = _count(where, t, table, "n")
        try:
            model = models[mname] if mname in models else _library_model(mname)
        except BiosnnError as exc:
            raise where.error(
                t, "model", f"no model {mname!r} in [models] and {_clean(exc)}"
            ) from None
        try:
            pop = Population(
                model,
                n,
                name=name,
                params=_values(where, t, "params", table.get("params")),
                init=_values(where, t, "init", table.get("init")),
                method=table.get("method", "rk4"),
            )
        except ModelError as exc:
            if exc.source:
                raise
            raise where.error(t, None, _clean(exc)) from None
        pop._origin = (where.path, {"table": where.line(t)})
        groups[name] = pop
        info.populations[name] = pop
        objects.append(pop)

    for k, (name, table) in enumerate(_table(where, data, "sources").items()):
        if name in groups:
            raise where.error(f"sources.{name}", None, "a population has the same name")
        src = _source(where, name, table, seed, k)
        groups[name] = src
        objects.append(src)

    for name, table in _table(where, data, "synapses").items():
        t = f"synapses.{name}"
        _check_keys(where, t, table, _SYN_KEYS)
        pre = _part(where, t, "pre", _need(where, t, table, "pre", str, "a source name"), groups)
        post = _part(
            where, t, "post", _need(where, t, table, "post", str, "a population name"), groups
        )
        rule = _rule(
            where, t, _need(where, t, table, "connect", (dict, str), "a connectivity rule")
        )
        params = table.get("params") or {}
        if not isinstance(params, dict):
            raise where.error(t, "params", 'must be a table such as { we = "1.62 mV" }')
        delay = table.get("delay", 0)
        if isinstance(delay, str) and "(" in delay:
            delay = _values(where, t, "delay", {"delay": delay})["delay"]
        # the lines of its texts in the file: every statement and equation is checked
        # when the Network is built below, and its errors name the file and the line
        origin = (
            where.path,
            {
                "table": where.line(t),
                **{
                    key: _text_line(where, t, key)
                    for key in ("model", "on_pre", "on_post")
                    if key in table
                },
            },
        )
        try:
            if "library" in table:  # a kinetic synapse of models/synapses/
                for key in ("model", "on_pre", "on_post"):
                    if key in table:
                        raise where.error(
                            t,
                            key,
                            "a library synapse brings its own model "
                            "and statements; remove this key",
                        )
                from biosnn.network.synapse_models import kinetic_synapses

                syn = kinetic_synapses(
                    _need(where, t, table, "library", str, "a synapse name such as 'ampa'"),
                    pre,
                    post,
                    _need(
                        where,
                        t,
                        table,
                        "target",
                        str,
                        "the neuron parameter that receives the current",
                    ),
                    connect=rule,
                    w=_need(
                        where,
                        t,
                        table,
                        "w",
                        (str, numbers.Real),
                        "the maximal conductance, e.g. '1 nS'",
                    ),
                    voltage=table.get("voltage", "v"),
                    params=params,
                    init=_values(where, t, "init", table.get("init")),
                    delay=delay,
                    name=name,
                    method=table.get("method"),
                )
            else:
                syn = Synapses(
                    pre,
                    post,
                    model=table.get("model"),
                    on_pre=table.get("on_pre"),
                    on_post=table.get("on_post"),
                    connect=rule,
                    params=params,
                    init=_values(where, t, "init", table.get("init")),
                    delay=delay,
                    name=name,
                    method=table.get("method"),
                    _origin=origin,
                )
        except ModelError as exc:
            if exc.source:
                raise
            raise where.error(t, None, _clean(exc)) from None
        if syn._origin is None:  # a library synapse: errors point at its table
            syn._origin = (where.path, {"table": where.line(t)})
        info.synapses[name] = syn
        objects.append(syn)

    mon = data.get("monitors", {})
    _check_keys(where, "monitors", mon, _MONITOR_KEYS)
    spike_names = mon.get("spikes", list(info.populations))
    if not isinstance(spike_names, list):
        raise where.error("monitors", "spikes", "must be a list of population names")
    for name in spike_names:
        src = _part(where, "monitors", "spikes", name, groups)
        info.spike_monitors[name] = SpikeMonitor(src)
        objects.append(info.spike_monitors[name])
    for name in mon.get("rates", []):
        src = _part(where, "monitors", "rates", name, groups)
        info.rate_monitors[name] = RateMonitor(src)
        objects.append(info.rate_monitors[name])
    states = mon.get("states", [])
    if not isinstance(states, list):
        raise where.error("monitors", "states", "must be a list of tables")
    for spec in states:
        _check_keys(where, "monitors", spec, _STATE_KEYS)
        pname = spec.get("population")
        if pname not in info.populations:
            raise where.error("monitors", "states", f"no population named {pname!r}")
        try:
            sm = StateMonitor(
                info.populations[pname],
                spec.get("variables", []),
                spec.get("indices", [0]),
                every=spec.get("every", 1),
            )
        except ModelError as exc:
            raise where.error("monitors", "states", _clean(exc)) from None
        info.state_monitors.append(sm)
        objects.append(sm)

    try:
        net = Network(*objects, dt=dt_ms, seed=seed, backend=backend)
    except ModelError as exc:
        if exc.source:  # located by the Network: file, line, object
            raise
        raise ModelError(f"cannot build the network: {_clean(exc)}", source=str(path)) from None
    except BiosnnError as exc:
        raise ModelError(f"cannot build the network: {_clean(exc)}", source=str(path)) from None
    except (ValueError, TypeError) as exc:  # values.draw: wrong sizes or kinds of values
        raise ModelError(f"cannot build the network: {_clean(exc)}", source=str(path)) from None
    return net, info


def _name_lines(where, t, table) -> tuple:
    """Lines of an inline model's ``name`` and preset names (Origin.lines)."""
    out = [("name", where.line(t, "name"))]
    presets = table.get("presets")
    for p in presets if isinstance(presets, dict) else ():
        out.append((f"presets.{p}", where.line(f"{t}.presets.{p}")))
    return tuple(out)


def _library_model(name):
    from biosnn.equations.files import load_model

    return load_model(name)


def _table(where, data, key) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise where.error("", key, f"must be tables [{key}.NAME]")
    for name, table in value.items():
        if not is_identifier(name):
            raise where.error(key, None, f"{name!r} is not a valid name: {RULE} (such as 'exc')")
        if not isinstance(table, dict):
            raise where.error(key, name, f"must be a table [{key}.{name}]")
    return value


def _read_python(path, *, dt, duration, seed, backend):
    import runpy

    from biosnn.network import Network, RateMonitor, SpikeMonitor, StateMonitor

    if dt is not None or seed is not None or backend not in (None, "auto"):
        raise ModelError(
            "dt, seed and backend of a Python network file are set in the file itself",
            source=str(path),
        )
    ns = runpy.run_path(str(path), run_name="__biosnn_network__")
    net = ns.get("network")
    if not isinstance(net, Network):
        raise ModelError(
            "a Python network file must define 'network', a biosnn.network.Network",
            source=str(path),
        )
    info = NetworkInfo(
        name=str(ns.get("name", path.stem)), title=str(ns.get("title", "")), path=str(path)
    )
    if duration is not None:
        info.duration = float(duration)
    elif ns.get("duration") is not None:
        info.duration = _time_ms(_Where(str(path), ""), "", "duration", ns["duration"])
    for p in net.populations:
        info.populations[p.name] = p
    for s in net.synapses:
        info.synapses[s.name] = s
    for m in net.monitors:
        if isinstance(m, SpikeMonitor):
            info.spike_monitors.setdefault(m.source.name, m)
        elif isinstance(m, RateMonitor):
            info.rate_monitors.setdefault(m.source.name, m)
        elif isinstance(m, StateMonitor):
            info.state_monitors.append(m)
    return net, info


def load_network(path_or_name, *, dt=None, duration=None, seed=None, backend="auto", changes=None):
    """Build a network from a network file or a library network.

    Parameters
    ----------
    path_or_name : str or Path
        A library name (``"cuba"``, see :func:`list_networks`), a ``.toml`` network file,
        or a ``.py`` file that defines ``network`` (runs the file: only for files you
        trust).
    dt, duration : float (ms), optional
        Override the file's ``dt`` / ``duration``.
    seed : int, optional
        Override the file's seed (else the file's, else a fresh one).
    backend : {"auto", "c", "numpy"}
    changes : dict, optional
        Dotted keys of the file -> new values, applied before anything is built:
        ``{"populations.exc.n": 800, "sources.stim.a": 30}``.

    Returns
    -------
    Network
        With ``.info``, a :class:`NetworkInfo`: name, title, default ``duration`` (ms) and
        the monitors (``info.spike_monitors["exc"]``).

    Examples
    --------
    >>> net = load_network("cuba", seed=1, changes={"populations.exc.n": 400,
    ...                                            "populations.inh.n": 100})
    >>> sorted(net.info.spike_monitors), net.info.duration
    (['exc', 'inh'], 1000.0)
    """
    net, info = read_network(
        path_or_name, dt=dt, duration=duration, seed=seed, backend=backend, changes=changes
    )
    net.info = info
    return net
