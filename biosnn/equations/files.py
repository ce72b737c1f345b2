"""Model files (TOML) and the model library.

A model file is data (see docs/architecture.md, "Model files")::

    name = "lif"
    title = "Leaky integrate-and-fire"
    equations = \"\"\"
    dv/dt = (El - v)/tau + I/C : volt (unless refractory)
    \"\"\"
    [parameters]
    El = "-65 mV"
    ...
    [events]
    threshold = "v > -50*mV"

Reading one never runs code: TOML is parsed by ``tomllib`` and the equation strings by the
whitelist parser of :mod:`biosnn.equations.parser`.  Errors name the file, the table and
key, and inside ``equations`` the line of the file.

The library is package data: ``models/`` at the top of the repository, reached as
``biosnn/_library`` (a symbolic link in the source tree, copied into the wheel at build
time) through ``importlib.resources``, so a source checkout, an editable install and a
plain ``pip install .`` read the same files.  ``$BIOSNN_MODEL_PATH`` (directories separated
by ``os.pathsep``) is searched in front of it: a file there shadows the library file of
the same name, and a directory named there that does not exist is an error, not a silent
omission.  ``networks/`` and ``synapses/`` under each of these directories hold the
network and synapse libraries.

Examples
--------
>>> import biosnn
>>> [name for name, title in biosnn.list_models()][:1]
['adex']
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from biosnn.errors import ModelError
from biosnn.names import from_stem

__all__ = [
    "load_model",
    "list_models",
    "read_model_file",
    "library_dirs",
    "find_model",
    "package_library",
    "user_dirs",
    "shadowed_models",
]

_TOP_KEYS = (
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
)
_EVENT_KEYS = ("threshold", "reset", "refractory")


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def package_library() -> Path:
    """The directory of the model library shipped with biosnn (``models/`` of the repository).

    Raises
    ------
    ModelError
        If it is missing (a broken installation, or a source checkout whose file system
        did not create the symbolic link ``biosnn/_library``).

    Examples
    --------
    >>> from biosnn.equations.files import package_library
    >>> (package_library() / "hodgkin_huxley.toml").is_file()
    True
    """
    from importlib.resources import files

    library = Path(str(files("biosnn").joinpath("_library")))
    if not library.is_dir():
        raise ModelError(
            f"the model library of biosnn is missing: {library} is not a "
            "directory (reinstall biosnn; in a source checkout it is a symbolic "
            "link to models/)"
        )
    return library


def user_dirs() -> list:
    """The directories of ``$BIOSNN_MODEL_PATH``, in order (empty when it is not set).

    Raises
    ------
    ModelError
        If one of them is not a directory (a typo there would otherwise silently load the
        library's model instead of yours).

    Examples
    --------
    >>> from biosnn.equations.files import user_dirs
    >>> isinstance(user_dirs(), list)
    True
    """
    out = []
    for text in os.environ.get("BIOSNN_MODEL_PATH", "").split(os.pathsep):
        if text:
            path = Path(text).expanduser()
            if not path.is_dir():
                raise ModelError(f"BIOSNN_MODEL_PATH names {text!r}, which is not a directory")
            out.append(path)
    return out


def library_dirs() -> list:
    """Directories searched for model files, in order: ``$BIOSNN_MODEL_PATH``, then the library.

    A model file in an earlier directory shadows one of the same name in a later one, so a
    model of your own named like a library model replaces it (``biosnn models`` lists
    which).  ``networks/`` and ``synapses/`` under the same directories are searched for
    network and synapse files in the same order.

    Examples
    --------
    >>> from biosnn.equations.files import library_dirs, package_library
    >>> library_dirs()[-1] == package_library()
    True
    """
    return [*user_dirs(), package_library()]


def _library_files() -> dict:
    """Name -> path of every model file in the library (first directory wins)."""
    found = {}
    for directory in library_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def shadowed_models() -> list:
    """``(name, path, shadowed path)`` of the library models that ``$BIOSNN_MODEL_PATH`` hides.

    Examples
    --------
    >>> from biosnn.equations.files import shadowed_models
    >>> isinstance(shadowed_models(), list)
    True
    """
    library = {path.stem: path for path in package_library().glob("*.toml")}
    found = _library_files()
    return [
        (name, found[name], library[name])
        for name in sorted(library)
        if found[name].resolve() != library[name].resolve()
    ]


def find_model(name_or_path) -> Path:
    """The path of a model given by library name or file path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = (
        isinstance(name_or_path, Path)
        or text.endswith(".toml")
        or os.sep in text
        or (os.altsep and os.altsep in text)
    )
    if looks_like_path:
        if not path.is_file():
            raise ModelError(f"no model file {text!r}")
        return path
    files = _library_files()
    if text in files:
        return files[text]
    import difflib

    close = difflib.get_close_matches(text, list(files), n=3)
    hint = f"; did you mean {' or '.join(close)}" if close else ""
    where = ", ".join(str(d) for d in library_dirs())
    raise ModelError(
        f"no model named {text!r} in the library ({where}){hint}. "
        f"Available: {', '.join(sorted(files)) or 'none'}."
    )


def _read_toml(path: Path, what: str = "model file") -> tuple:
    """(text, data) of a TOML file; errors name the file, line and column."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the {what}: {exc}", source=str(path)) from None
    try:
        data = _toml().loads(raw)
    except Exception as exc:  # tomllib.TOMLDecodeError
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = column = None
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()].strip()
        raise ModelError(
            f"invalid TOML: {message}", line=line, column=column, source=str(path)
        ) from None
    return raw, data


def _equations_line(raw: str) -> int:
    """Line (1-based) of the first character of the ``equations`` string in the file."""
    match = re.search(r"^[ \t]*equations[ \t]*=[ \t]*(\"\"\"|'''|\"|')", raw, re.M)
    if not match:
        return 1
    start = match.end()
    if match.group(1) in ('"""', "'''") and raw[start : start + 1] == "\n":
        start += 1
    elif match.group(1) in ('"""', "'''") and raw[start : start + 2] == "\r\n":
        start += 2
    return raw.count("\n", 0, start) + 1


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*[\"']?([^\"'=]+?)[\"']?\s*=")


def _name_lines(raw: str) -> tuple:
    """``(("name", line), ("presets.RS", line), ...)``: the 1-based lines where a file
    gives the model's name and its presets' names (for errors; best effort: a name the
    lines do not show plainly gets none).
    """
    found, table = {}, ""
    for k, text in enumerate(raw.splitlines(), 1):
        header = _HEADER.match(text)
        if header:
            table = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
            if table.startswith("presets."):
                found.setdefault(table, k)
            continue
        key = _KEY.match(text)
        if key and table == "" and key.group(1) == "name":
            found.setdefault("name", k)
        elif key and table == "presets":
            found.setdefault(f"presets.{key.group(1)}", k)
    return tuple(found.items())


def _check_table(data, key, path, allowed=None, kind=dict):
    value = data.get(key)
    if value is None:
        return {} if kind is dict else None
    if not isinstance(value, kind):
        what = "a table" if kind is dict else "a string"
        raise ModelError(f"{key} must be {what}", source=str(path))
    if allowed is not None:
        import difflib

        for k in value:
            if k not in allowed:
                close = difflib.get_close_matches(k, allowed, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ModelError(
                    f"[{key}] {k}: unknown key{hint}; allowed: {', '.join(allowed)}",
                    source=str(path),
                )
    return value


def read_model_file(path) -> dict:
    """Read and check a model file; return the keyword arguments of ``Model``.

    The result also has ``title``.  No Model is built (see :func:`load_model`).
    """
    from biosnn.equations.model import Origin

    path = Path(path)
    raw, data = _read_toml(path)
    source = str(path)
    import difflib

    for key in data:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ModelError(
                f"unknown key {key!r}{hint}; allowed: {', '.join(_TOP_KEYS)}", source=source
            )
    for key in ("name", "title", "description", "reference", "equations"):
        if key in data and not isinstance(data[key], str):
            raise ModelError(f"{key} must be a string", source=source)
    if "equations" not in data:
        raise ModelError("the file has no 'equations' string", source=source)
    time = data.get("time")
    if time is not None and not isinstance(time, (str, int)):
        raise ModelError('time must be a string ("1" for dimensionless time)', source=source)
    events = _check_table(data, "events", path, _EVENT_KEYS)
    presets = _check_table(data, "presets", path)
    for pname, table in presets.items():
        if not isinstance(table, dict):
            raise ModelError(
                f"[presets] {pname} must be a table ([presets.{pname}])", source=source
            )
    labels = (
        ("params", "[parameters]"),
        ("initial", "[initial]"),
        ("threshold", "[events] threshold"),
        ("reset", "[events] reset"),
        ("refractory", "[events] refractory"),
    )
    origin = Origin(
        source=source, equations_line=_equations_line(raw), labels=labels, lines=_name_lines(raw)
    )
    return dict(
        equations=data["equations"],
        params=_check_table(data, "parameters", path),
        initial=_check_table(data, "initial", path),
        threshold=events.get("threshold"),
        reset=events.get("reset"),
        refractory=events.get("refractory"),
        name=data.get("name", from_stem(path.stem)),
        time=None if time is None else str(time),
        presets=presets,
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        title=data.get("title", ""),
        _origin=origin,
    )


@functools.lru_cache(maxsize=128)
def _load_cached(path: str, mtime_ns: int, size: int):
    from biosnn.equations.model import Model

    kwargs = read_model_file(path)
    kwargs.pop("title")
    return Model(**kwargs)


def load_model(name_or_path, preset: str | None = None, **param_overrides):
    """Load a model from the library (by name) or from a TOML file (by path).

    Parameters
    ----------
    name_or_path : str or Path
        A library name (``"hodgkin_huxley"``) or a path to a ``.toml`` file.
    preset : str, optional
        Apply a named parameter set of the file.
    **param_overrides
        Parameter values (numbers in display units or strings with units).

    Examples
    --------
    >>> import biosnn
    >>> hh = biosnn.load_model("hodgkin_huxley", I_ext=10)
    >>> hh.states
    ('V', 'm', 'h', 'n')
    """
    path = find_model(name_or_path).resolve()
    stat = path.stat()
    model = _load_cached(str(path), stat.st_mtime_ns, stat.st_size)
    if preset is not None:
        model = model.with_preset(preset)
    if param_overrides:
        model = model.with_params(**param_overrides)
    return model


def list_models() -> list:
    """``(name, title)`` of every model in the library, sorted by name.

    Examples
    --------
    >>> import biosnn
    >>> all(isinstance(n, str) for n, _ in biosnn.list_models())
    True
    """
    out = []
    for name, path in sorted(_library_files().items()):
        try:
            _, data = _read_toml(path)
            title = data.get("title", "") if isinstance(data.get("title", ""), str) else ""
        except ModelError:
            title = "(unreadable model file)"
        out.append((name, title))
    return out
