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

Every key includes :data:`FORMAT`, :data:`~biosnn.equations.model.SPEC_VERSION` and
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
from pathlib import Path

__all__ = [
    "FORMAT",
    "CODE_FIELDS",
    "cache_root",
    "generator_version",
    "args_key",
    "layout_key",
    "read",
    "write",
    "update",
]

#: Bump when the layout of the stored JSON changes.
FORMAT = "2"

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
    from biosnn.equations.model import SPEC_VERSION

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
