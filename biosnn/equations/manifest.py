"""The warm start cache: what a Model and its kernels need, stored as JSON by a key.

Start-up is part of performance (docs/architecture.md, "Warm start").  Building a Model
runs a checking pass that needs pint (~0.4 s to import) and lowering it to a
:class:`~biosnn.codegen.spec.KernelSpec` needs sympy (~0.6 s).  Their results are small
(names, units, conversion factors, flags, a few lines of generated NumPy source), so they
are stored in the cache directory and found again by a key computed from the text:

``$BIOSNN_CACHE_DIR/models/<key>.model.json``
    the *manifest* of a Model (see ``Model`` in :mod:`biosnn.equations.model`), keyed by
    a hash of every constructor argument (equations, parameters, initial values, events,
    presets, name, time, description, reference, the file it came from);
``$BIOSNN_CACHE_DIR/models/<key>.layout.json``
    the :class:`~biosnn.codegen.spec.KernelLayout` of a model structure, keyed by its
    ``structure_key`` and the dimensions of its parameters;
``$BIOSNN_CACHE_DIR/models/<key>.analysis.json``
    a derived function of :mod:`biosnn.analysis` (``biosnn.analysis._system``).

Every key includes :data:`FORMAT`, :data:`SPEC_VERSION` and
:func:`generator_version` (:func:`biosnn.cache.package_key`: the hash of the whole
installed package), so any change to biosnn invalidates the cache by itself.  The files
follow the trust rules of :mod:`biosnn.cache`: each is a checked record (a header line
with the sha256 of the JSON body; a truncated, garbled or edited file is a miss and is
rebuilt), written atomically with fsync.  Generated source that is executed later (the
fields of :data:`CODE_FIELDS`: ``initial_source``, ``numeric_source``, ``numpy_source``,
``source``) is not stored in the record: it is a blob ``models/<sha256>.py`` and the
record holds ``{"sha256": digest}``; :func:`read` hashes the blob and compares it with
the digest before handing the text out, and refuses a record that carries such a field
inline.  The stored source is our own generated code; user text is never executed.

Examples
--------
>>> from biosnn.equations.manifest import args_key
>>> len(args_key({"equations": "dv/dt = -v : 1", "params": {}}))
64
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from biosnn import units
from biosnn.equations.parser import is_number
from biosnn.errors import UnitError
from biosnn.names import is_variable

__all__ = [
    "FORMAT",
    "SPEC_VERSION",
    "CODE_FIELDS",
    "cache_root",
    "generator_version",
    "args_key",
    "layout_key",
    "read",
    "write",
    "update",
    "content_key",
    "model_record",
    "model_fields",
    "derived",
    "quick_quantity",
    "events_content",
    "structure_key",
    "model_key",
]

#: Bump when the layout of the stored JSON changes.
FORMAT = "2"

#: Bump when the lowering (parser, units, kernel_spec) changes what a text compiles to.
SPEC_VERSION = "1"

#: Fields of each kind that hold generated source executed later: stored as blobs.
CODE_FIELDS = {
    "model": ("initial_source",),
    "layout": ("numeric_source", "numpy_source"),
    "analysis": ("source",),
}
_VERSION: list = []


def cache_root() -> Path:
    """``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``), created 0700 and checked."""
    from biosnn import cache

    return cache.root()


def generator_version() -> str:
    """The version of the code that produces the cached content: the package key
    (:func:`biosnn.cache.package_key`, computed once per process).
    """
    if not _VERSION:
        from biosnn import cache

        _VERSION.append(cache.package_key())
    return _VERSION[0]


def _canonical(value):
    """JSON-ready form that keeps dict order and the int/float/bool distinction."""
    if isinstance(value, dict):
        return {"dict": [[_canonical(k), _canonical(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return {"int": str(int(value))}
    if isinstance(value, float):
        return {"float": repr(float(value))}
    if hasattr(value, "labels") and hasattr(value, "equations_line"):  # model.Origin
        return {"origin": [value.source, value.equations_line, _canonical(value.labels)]}
    raise TypeError(f"not cacheable: {type(value).__name__}")


def args_key(args: dict) -> str | None:
    """Key of a Model's constructor arguments, or None if they are not plain data
    (such a model is simply not cached).
    """
    try:
        text = json.dumps([FORMAT, SPEC_VERSION, generator_version(), _canonical(args)])
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def layout_key(structure_key: str, param_dims: list) -> str:
    """Key of a KernelLayout: the model structure and the dimensions of its parameters."""
    text = json.dumps([FORMAT, generator_version(), structure_key, param_dims])
    return hashlib.sha256(text.encode()).hexdigest()


def _folder() -> Path:
    from biosnn import cache

    return cache.directory("models")


def _path(kind: str, key: str) -> Path:
    return _folder() / f"{key}.{kind}.json"


def read(kind: str, key: str) -> dict | None:
    """The stored dict, or None if missing, unreadable, not a checked record, of another
    version, or if a source blob it names is missing or does not match its hash.
    """
    from biosnn import cache

    try:
        data = cache.read_record(_path(kind, key))
    except OSError:  # no cache directory can be made: no cache
        return None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or data.get("generator") != generator_version()
    ):
        return None
    for name in CODE_FIELDS.get(kind, ()):
        value = data.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, dict) or set(value) != {"sha256"}:
            return None  # inline source: not ours, never executed
        blob = cache.read_blob(_path(kind, key).parent, value["sha256"], ".py")
        if blob is None:
            return None
        try:
            data[name] = blob.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return data


def write(kind: str, key: str, data: dict) -> None:
    """Store ``data`` atomically (source fields as hash-named blobs).  A cache that cannot
    be written is skipped (the next process builds the entry again); a cache directory
    that is not safe raises :class:`~biosnn.errors.CacheError`.
    """
    from biosnn import cache

    try:
        folder = _folder()
        cache.clean_stale(folder)
        data = {**data, "format": FORMAT, "generator": generator_version()}
        for name in CODE_FIELDS.get(kind, ()):
            value = data.get(name)
            if isinstance(value, str) and value:
                digest = cache.put_blob(folder, value.encode("utf-8"), ".py")
                data[name] = {"sha256": digest}
        cache.write_record(_path(kind, key), data)
    except (OSError, TypeError, ValueError):
        pass


def update(kind: str, key: str, changes: dict, base: dict | None = None) -> None:
    """Add ``changes`` to the stored dict (or to ``base`` when nothing is stored)."""
    data = read(kind, key)
    if data is None:
        if base is None:
            return
        data = base
    write(kind, key, {**data, **changes})


# -- the keys and the manifest of a Model -------------------------------------------------------------


def events_content(b) -> dict:
    """What the kernels depend on, as written (canonical text of the equations and events),
    from the checking pass's builder ``b``.
    """
    a = b.args
    return {
        "version": SPEC_VERSION,
        "name": a["name"],
        "time_dimensionless": b.time_dimensionless,
        "equations": [s.canonical for s in b.statements],
        "threshold": b.threshold_expr.canonical if b.threshold_expr else None,
        "reset": [r.canonical for r in b.reset_stmts or ()],
        "refractory": (
            b.refractory_expr.canonical
            if b.refractory_expr
            else repr(b.refractory_quantity or a["refractory"])
        ),
    }


def structure_key(b) -> str:
    """Hash of what the kernels depend on, from the text: no sympy work needed."""
    content = {**events_content(b), "params": list(b.param_names)}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def model_key(b) -> str:
    """Hash of the whole content (defaults, initial values, presets included)."""
    return content_key(
        events_content(b),
        b.param_names,
        b.defaults,
        {n: b.display[n][0] for n in b.param_names},
        b.args["initial"],
        b.args["presets"],
    )


def model_record(b, built: dict) -> dict:
    """The JSON-ready result of the checking pass: the manifest of a Model (``b``: the
    :class:`~biosnn.equations.checks.Builder` after ``build()``, which returned ``built``).
    """
    key = units.dim_key
    texts = [b.display[n][0] for n in b.param_names]
    values = list(b.args["params"].values())
    for p in b.args["presets"].values():
        values += [v for k, v in p.items() if k != "description"]
    for v in values:
        parts = units.split_quantity(v) if isinstance(v, str) else None
        if parts is not None:
            texts.append(" ".join(parts[1].split()))
    table = {}
    for text in texts:
        try:
            factor, dim = units.parse_unit(text)
        except UnitError:
            continue
        table[text] = [factor, key(dim)]
    divisors = b._divisors()
    model_units = {}
    for name in b.param_names:
        model_units.setdefault(b.param_dims[name], name)
    follows = {
        n: model_units[b.dims[n]]
        for n in b.states + b.alias_names
        if units.is_base_unit_text(b.decl[n].unit) and b.dims[n] in model_units
    }
    declared = {}
    for name in b.declared_params:
        unit, factor = b._declared_display(b.decl[name])
        declared[name] = [key(units.parse_unit(b.decl[name].unit)[1]), unit, factor]
    return {
        "format": FORMAT,
        "generator": generator_version(),
        "name": built["name"],
        "time_dimensionless": b.time_dimensionless,
        "key": built["key"],
        "structure_key": built["_structure_key_value"],
        "states": list(b.states),
        "statements": [s.text for s in b.statements],
        "params": [[n, b.defaults[n], b.param_display[n]] for n in b.param_names],
        "aliases": list(b.alias_names),
        "noises": list(b.noises),
        "display": [[n, u, f] for n, (u, f) in b.display.items()],
        "dims": {n: key(d) for n, d in b.dims.items()},
        "unless_refractory": list(built["_unless_refractory"]),
        "initial": [[s, b.initial_numbers.get(s)] for s in b.states],
        "initial_source": None,
        "declared": declared,
        "follows": follows,
        "time_constants": [
            n
            for n in b.param_names
            if b.param_dims[n] == b.T and n in divisors and not b.time_dimensionless
        ],
        "events_content": events_content(b),
        "units": table,
    }


def quick_quantity(text, table: dict):
    """``(internal value, dimension key)`` of ``"10 ms"`` from a table of unit strings
    (``{unit: [factor, dim_key]}``, filled by pint on the cold path), else None.
    """
    if not isinstance(text, str):
        return None
    parts = units.split_quantity(text)
    if parts is None:
        return None
    entry = table.get(" ".join(parts[1].split()))
    if entry is None or not math.isfinite(parts[0] * entry[0]):
        return None  # unknown unit, or "1e400 mV": the full path says what is wrong
    return parts[0] * entry[0], entry[1]


def _real(x) -> float:
    if not is_number(x):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


def _text(x) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {x!r}")
    return x


def model_fields(data, args) -> dict | None:
    """The attributes of a Model (constructor arguments ``args``) from its manifest, or
    None if it is stale or malformed.
    """
    try:
        if data.get("format") != FORMAT or data.get("generator") != generator_version():
            return None
        states = tuple(_text(x) for x in data["states"])
        for x in data["statements"]:
            _text(x)
        names = [_text(n) for n, _, _ in data["params"]]
        aliases = tuple(_text(x) for x in data["aliases"])
        display = {_text(n): (_text(u), _real(f)) for n, u, f in data["display"]}
        dims = data["dims"]
        for n in states + aliases + tuple(names) + ("t",):
            if n not in display or not isinstance(dims.get(n), str):
                raise KeyError(n)
        initial = data["initial"]
        if [s for s, _ in initial] != list(states):
            raise ValueError("initial values do not match the states")
        for _, v in initial:
            if v is not None:
                _real(v)
        if not isinstance(data["units"], dict) or not isinstance(
            data.get("initial_source") or "", str
        ):
            raise TypeError("units")
        unless = tuple(bool(x) for x in data["unless_refractory"])
        if len(unless) != len(states):
            raise ValueError("unless_refractory")
        # names are printed into generated source: a cached manifest must not bring others
        if data["name"] != args["name"] or not all(
            is_variable(n) for n in states + aliases + tuple(names) + tuple(data["noises"])
        ):
            raise ValueError("names")
        origin = args["_origin"]
        return dict(
            name=_text(data["name"]),
            time_dimensionless=bool(data["time_dimensionless"]),
            key=_text(data["key"]),
            _structure_key_value=_text(data["structure_key"]),
            _states=states,
            _params={n: _real(v) for n, _, v in data["params"]},
            _defaults={n: _real(v) for n, v, _ in data["params"]},
            _alias_names=aliases,
            _noises=tuple(_text(x) for x in data["noises"]),
            _display=display,
            _unless_refractory=unless,
            _origin_source=origin.source if origin else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def derived(pdata, pargs, args) -> dict | None:
    """The manifest of a model with arguments ``args`` that differ from those of a parent
    model (``pargs``, its manifest ``pdata``) only in parameter values
    (``parent.with_params(...)``), without the checking pass; or None when it cannot be
    derived exactly (then the checking pass runs, and raises any error).

    Follows ``checks.Builder._param`` step by step for the parameters whose value changed; the
    tests compare derived and checked models of every library model and preset.
    """
    if {k: v for k, v in args.items() if k != "params"} != {
        k: v for k, v in pargs.items() if k != "params"
    } or list(args["params"]) != list(pargs["params"]):
        return None
    table, declared = pdata["units"], pdata["declared"]
    params = {n: [d, v] for n, d, v in pdata["params"]}
    display = {n: [u, f] for n, u, f in pdata["display"]}
    for name, value in args["params"].items():
        if value == pargs["params"][name] and type(value) is type(pargs["params"][name]):
            continue
        decl = declared.get(name)
        if isinstance(value, str):
            parts = units.split_quantity(value)
            unit = " ".join(parts[1].split()) if parts is not None else None
            if unit not in table:
                return None
            factor, dim = table[unit]
            internal = parts[0] * factor
            if decl is not None and dim != decl[0]:
                if internal != 0:
                    return None
                dim, unit, factor = decl
        elif is_number(value):
            unit, factor, dim = (decl[1], decl[2], decl[0]) if decl is not None else ("1", 1.0, "")
            internal = float(value) * factor
        else:
            return None
        if (
            not math.isfinite(internal)
            or dim != pdata["dims"][name]
            or (name in pdata["time_constants"] and internal <= 0)
        ):
            return None
        params[name] = [internal, internal / factor]
        display[name] = [unit, factor]
    for n, p in pdata["follows"].items():
        display[n] = list(display[p])
    names = [n for n, _, _ in pdata["params"]]
    key = content_key(
        pdata["events_content"],
        names,
        {n: params[n][0] for n in names},
        {n: display[n][0] for n in names},
        args["initial"],
        args["presets"],
    )
    return {
        **pdata,
        "key": key,
        "params": [[n, *params[n]] for n in names],
        "display": [[n, *display[n]] for n, _, _ in pdata["display"]],
    }


def content_key(events_content, names, defaults, display_units, initial, presets) -> str:
    """Hash of the whole content of a model (defaults, initial values, presets included)."""
    content = {
        **events_content,
        "params": {n: [repr(defaults[n]), display_units[n]] for n in names},
        "initial": {n: (v if isinstance(v, str) else repr(float(v))) for n, v in initial.items()},
        "presets": {k: {kk: repr(vv) for kk, vv in v.items()} for k, v in presets.items()},
    }
    text = json.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
