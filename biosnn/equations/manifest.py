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
    ``structure_key`` and the dimensions of its parameters.

Every key includes :data:`FORMAT`, :data:`~biosnn.equations.model.SPEC_VERSION` and
:func:`generator_version` (a hash of the source files that produce the stored content), so
editing the parser, the unit code or a printer invalidates the cache by itself.  Files are
written to a temporary name and renamed (two processes never see half a file); a file
that cannot be read, is not JSON or does not have the expected fields is ignored and
rebuilt.  The stored source is our own generated code; user text is never executed.

Examples
--------
>>> from biosnn.equations.manifest import args_key
>>> len(args_key({"equations": "dv/dt = -v : 1", "params": {}}))
64
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["FORMAT", "cache_root", "generator_version", "args_key", "layout_key", "read",
           "write", "update"]

#: Bump when the layout of the stored JSON changes.
FORMAT = "1"

#: Source files whose output is stored (relative to the biosnn package).
_GENERATORS = ("equations/parser.py", "equations/model.py", "equations/manifest.py",
               "units.py", "codegen/spec.py", "codegen/rewrite.py", "codegen/functions.py",
               "codegen/numpy_backend.py", "codegen/numpy_printer.py",
               "codegen/numeric_source.py")
_VERSION: list = []


def cache_root() -> Path:
    """``$BIOSNN_CACHE_DIR`` (default ``~/.cache/biosnn``)."""
    return Path(os.environ.get("BIOSNN_CACHE_DIR")
                or os.path.join(os.path.expanduser("~"), ".cache", "biosnn"))


def source_hash(here: Path, names, salt: str) -> str:
    """sha256 of ``salt`` and the bytes of the files ``names`` under ``here``: the version
    of the code that produces a cached entry (a missing file counts by its name)."""
    h = hashlib.sha256(salt.encode())
    for name in names:
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(b"missing " + name.encode())
    return h.hexdigest()


def generator_version() -> str:
    """Hash of the code that produces the cached content (read once per process)."""
    if not _VERSION:
        _VERSION.append(source_hash(Path(__file__).resolve().parents[1], _GENERATORS,
                                    FORMAT))
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
    (such a model is simply not cached)."""
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


def _path(kind: str, key: str) -> Path:
    return cache_root() / "models" / f"{key}.{kind}.json"


def read(kind: str, key: str) -> dict | None:
    """The stored dict, or None if missing, unreadable, not JSON or of another version."""
    try:
        data = json.loads(_path(kind, key).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or data.get("generator") != generator_version()):
        return None
    return data


def write(kind: str, key: str, data: dict) -> None:
    """Store ``data`` atomically; a cache that cannot be written is silently skipped."""
    import tempfile

    path = _path(kind, key)
    try:
        text = json.dumps({**data, "format": FORMAT, "generator": generator_version()})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
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
