"""Units: dimensions, the internal unit system, display units and the unit cache.

pint knows the units; biosnn only stores what it computes.  A dimension is a
:class:`Dimension`: a small immutable, hashable mapping from pint's base dimension names
to exponents (``Dimension({'[length]': 1, '[time]': -1})``) with ``*``, ``/`` and ``**``.
Kernels work on plain float64 in one coherent **internal unit system** (see
docs/architecture.md):

=============  =============
dimension      internal unit
=============  =============
time           ms
voltage        mV
current        pA
length         um
conductance    nS
capacitance    pF
resistance     GOhm
charge         fC
concentration  mM (= amol/um**3)
=============  =============

Unit names follow Brian2 (``volt mV nA uF Mohm ms Hz um mM cm2 ...``): a base name
(``volt``, ``amp``, ``siemens``, ``farad``, ``ohm``, ``second``, ``hertz``, ``meter``,
``metre``, ``molar``, ``mole``, ``coulomb``, ``kelvin``, ``liter``, ``gram``) or a
symbol (``V A S F s Hz m M mol C K l g``) with an optional SI prefix (``p n u m c k M G``
...), optionally followed by ``2`` or ``3`` for a power (``cm2``, ``um3``).  Unit strings
(not equations) may also use any other unit pint knows.

Text is parsed by walking Python's ``ast`` over a whitelist (numbers, names, ``* / **``,
unary minus); nothing is ever evaluated.

Importing pint takes 0.3-0.5 s (0.5-0.8 s with building its registry), so what it
computes is kept, in two places:

* **The shipped table** ``biosnn/units_table.json`` (package data, part of
  :func:`biosnn.cache.package_key` like the code): ``(factor, dimension)`` of every name
  :func:`is_unit_name` accepts (each base name and symbol, with and without each prefix
  and power: 1,396 names), computed once with pint by :func:`_write_shipped_table`.  A
  unit text made only of such names (every unit of the model library, and of any model
  written with Brian2's names) is computed from the table by the walk below, without
  pint and without writing anything.  ``tests/test_units.py`` checks every entry against
  what the installed pint computes, and that no accepted name is missing.
* **The unit cache** for everything else (a pint name in a unit string such as
  ``inch``): every ``(factor, dimension)`` found for such a unit text or name is stored in
  ``$BIOSNN_CACHE_DIR/units-<version>.json`` (default ``~/.cache/biosnn``; ``<version>``
  changes with any file of biosnn - :func:`biosnn.cache.package_key` - and with the
  installed pint).  The file is read once per process; a unit text seen before is
  answered from it without importing pint, a new one imports pint and is added.  The
  file is a checked record of :mod:`biosnn.cache` (written atomically with fsync, a
  header line with the sha256 of its body): a truncated, garbled or edited file - a
  changed factor would silently change results - is ignored and rebuilt, and every
  entry is checked for shape (a finite non-zero float, a dimension key).  Pint's own
  parsed-definitions cache is not used: it is a pickle, and nothing biosnn reads from
  disk may run code.

Examples
--------
>>> from biosnn.units import parse_unit, parse_quantity, internal_unit_name
>>> factor, dim = parse_unit("uA/cm**2")
>>> round(factor, 12), internal_unit_name(dim)
(0.01, 'pA/um**2')
>>> parse_quantity("0.1 nA")[0]
100.0
>>> format_dimension(parse_unit("volt/second")[1])
'voltage/time (volt/second)'
"""

from __future__ import annotations

import ast
import functools
import math
import numbers
import os
import re

from biosnn.errors import ModelError, UnitError

__all__ = [
    "Dimension",
    "registry",
    "parse_unit",
    "parse_quantity",
    "split_quantity",
    "unit_name",
    "is_unit_name",
    "is_base_unit_text",
    "internal_unit_name",
    "si_unit_name",
    "format_dimension",
    "dimensionless",
    "TIME",
    "is_dimensionless",
    "dim_key",
    "dim_from_key",
    "cache_path",
    "parse_time",
]

#: SI prefixes accepted on unit names (Brian2's set without 'da' and 'h').
PREFIXES = {
    "y": "yocto",
    "z": "zepto",
    "a": "atto",
    "f": "femto",
    "p": "pico",
    "n": "nano",
    "u": "micro",
    "m": "milli",
    "c": "centi",
    "d": "deci",
    "k": "kilo",
    "M": "mega",
    "G": "giga",
    "T": "tera",
}
#: Base unit names (long) -> pint name.  Usable with or without a prefix.
_LONG = {
    "volt": "volt",
    "amp": "ampere",
    "ampere": "ampere",
    "siemens": "siemens",
    "farad": "farad",
    "ohm": "ohm",
    "second": "second",
    "hertz": "hertz",
    "meter": "meter",
    "metre": "meter",
    "molar": "molar",
    "mole": "mole",
    "coulomb": "coulomb",
    "kelvin": "kelvin",
    "liter": "liter",
    "litre": "liter",
    "gram": "gram",
}
#: Unit symbols -> pint name.  Usable with a prefix (mV, nA); alone only those in _BARE.
_SHORT = {
    "V": "volt",
    "A": "ampere",
    "S": "siemens",
    "F": "farad",
    "Ohm": "ohm",
    "ohm": "ohm",
    "s": "second",
    "Hz": "hertz",
    "m": "meter",
    "M": "molar",
    "mol": "mole",
    "C": "coulomb",
    "K": "kelvin",
    "l": "liter",
    "L": "liter",
    "g": "gram",
}
_BARE = {"Hz", "ohm", "Ohm", "mol"}
_UNPREFIXED = set(_LONG) | _BARE

#: Scale of the internal unit of each pint base dimension, in SI base units.
_INTERNAL_SCALE = {
    "[time]": 1e-3,  # ms
    "[length]": 1e-6,  # um
    "[current]": 1e-12,  # pA
    "[mass]": 1e-12,  # 1e-12 kg (so that mV = 1e-12 kg um**2 / (ms**3 pA))
    "[substance]": 1e-18,  # amol (so mM = amol/um**3)
    "[temperature]": 1.0,  # K
    "[luminosity]": 1.0,
}


# -- dimensions -----------------------------------------------------------------------------


def _exponent(value) -> int | float:
    """An exponent as an int when it is integral (``2.0`` -> ``2``), else a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a dimension exponent must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"a dimension exponent must be finite, got {value!r}")
    return int(value) if value.is_integer() else value


class Dimension:
    """A physical dimension: base dimension name -> exponent, immutable and hashable.

    The names are pint's base dimensions (``[length]``, ``[time]``, ``[current]``,
    ``[mass]``, ``[substance]``, ``[temperature]``, ``[luminosity]``).  Zero exponents are
    dropped and integral ones stored as ints, so two dimensions are equal (and hash
    equal) whatever produced them.  A Dimension also compares equal to any other mapping
    with the same items (such as pint's ``UnitsContainer``).

    Parameters
    ----------
    items : mapping or iterable of (name, exponent), optional
        The exponents; nothing means dimensionless.

    Examples
    --------
    >>> speed = Dimension({"[length]": 1}) / Dimension({"[time]": 1})
    >>> speed
    Dimension({'[length]': 1, '[time]': -1})
    >>> str(speed ** 2), speed["[time]"], (speed / speed) == Dimension()
    ('[length] ** 2 / [time] ** 2', -1, True)
    """

    __slots__ = ("_items", "_hash")

    def __init__(self, items=()) -> None:
        pairs = items.items() if hasattr(items, "items") else items
        clean = {}
        for name, exponent in pairs:
            if not isinstance(name, str):
                raise TypeError(f"a dimension name must be a string, got {name!r}")
            exponent = _exponent(exponent)
            if exponent:
                clean[name] = exponent
        object.__setattr__(self, "_items", tuple(sorted(clean.items())))
        # hashed like pint's UnitsContainer, so that the two are interchangeable dict keys
        object.__setattr__(self, "_hash", hash(frozenset(self._items)))

    def __setattr__(self, name, value):
        raise AttributeError("a Dimension cannot be changed")

    __delattr__ = __setattr__

    # mapping protocol
    def items(self):
        """``(name, exponent)`` pairs, sorted by name."""
        return self._items

    def keys(self):
        """The base dimension names, sorted."""
        return tuple(name for name, _ in self._items)

    def get(self, name: str, default=None):
        """The exponent of ``name``, or ``default`` when it does not appear."""
        for key, exponent in self._items:
            if key == name:
                return exponent
        return default

    def __getitem__(self, name: str):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name) -> bool:
        return self.get(name) is not None

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    # algebra
    def __mul__(self, other):
        if not isinstance(other, Dimension):
            return NotImplemented
        merged = dict(self._items)
        for name, exponent in other._items:
            merged[name] = merged.get(name, 0) + exponent
        return Dimension(merged)

    def __truediv__(self, other):
        if not isinstance(other, Dimension):
            return NotImplemented
        return self * other**-1

    def __pow__(self, power):
        power = _exponent(power)
        return Dimension((name, exponent * power) for name, exponent in self._items)

    # comparison
    def __eq__(self, other):
        if isinstance(other, Dimension):
            return self._items == other._items
        if isinstance(other, str) or not hasattr(other, "items"):
            return NotImplemented
        try:
            return self._items == Dimension(other)._items
        except (TypeError, ValueError):
            return False

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        return (Dimension, (dict(self._items),))

    def __repr__(self) -> str:
        return f"Dimension({dict(self._items)!r})"

    def __str__(self) -> str:
        """Pint's way: ``[length] ** 2 / [time]``; ``dimensionless`` when empty."""
        if not self._items:
            return "dimensionless"
        num = [_power_text(n, e) for n, e in self._items if e > 0]
        den = [_power_text(n, -e) for n, e in self._items if e < 0]
        text = " * ".join(num) if num else "1"
        return text + "".join(f" / {d}" for d in den)


def _power_text(name: str, exponent) -> str:
    return name if exponent == 1 else f"{name} ** {exponent}"


_DIMENSIONLESS = Dimension()
_TIME = Dimension({"[time]": 1})


def dimensionless() -> Dimension:
    """The empty dimension."""
    return _DIMENSIONLESS


def TIME() -> Dimension:
    """The dimension ``[time]``."""
    return _TIME


def is_dimensionless(dim) -> bool:
    """True if ``dim`` has no dimension."""
    return len(dim) == 0


def dim_key(dim) -> str:
    """A dimension as a plain string (``"[current]=1;[length]=-2"``; ``""`` for none).

    Used by the warm start caches (:mod:`biosnn.equations.manifest` and the unit cache)
    to store and compare dimensions as text.  Integral exponents are written as integers.

    Examples
    --------
    >>> dim_key(parse_unit("uA/cm**2")[1])
    '[current]=1;[length]=-2'
    """
    parts = []
    for base, exponent in sorted(dim.items()):
        exponent = float(exponent)
        parts.append(f"{base}={int(exponent) if exponent.is_integer() else exponent!r}")
    return ";".join(parts)


@functools.cache
def dim_from_key(key: str) -> Dimension:
    """Inverse of :func:`dim_key`.

    Raises ValueError when ``key`` is not such a string.

    Examples
    --------
    >>> dim_from_key("[time]=1") == TIME()
    True
    """
    items = {}
    for part in filter(None, key.split(";")):
        base, sep, exponent = part.partition("=")
        if not sep or not base.startswith("[") or not base.endswith("]") or base in items:
            raise ValueError(f"{key!r} is not a dimension key")
        items[base] = float(exponent)
    return Dimension(items)


@functools.lru_cache(maxsize=1)
def registry():
    """The pint UnitRegistry of biosnn (created on first use, then cached).

    Only needed when a unit is not in the unit cache.  Pint parses its definitions
    afresh (0.3-0.5 s): its own on-disk cache of them is a pickle, which biosnn never
    reads (a planted pickle would run code).

    Examples
    --------
    >>> from biosnn.units import registry
    >>> registry().Unit("mV").dimensionality == registry().Unit("volt").dimensionality
    True
    """
    import pint

    return pint.UnitRegistry(cache_folder=None)


# -- the unit cache -------------------------------------------------------------------------

#: Bump when the layout of the unit cache file changes.
CACHE_FORMAT = "2"
#: Sections of the cache file: (kind, strict) -> JSON field.
_SECTIONS = {
    ("text", False): "texts",
    ("text", True): "strict_texts",
    ("name", False): "names",
    ("name", True): "strict_names",
}
#: path -> {field: {text: [factor, dim_key]}}, each file read once per process.
_TABLES: dict = {}


def _cache_root() -> str:
    """The cache directory (checked; a directory that cannot be created is still named,
    so reads find nothing and writes are skipped).
    """
    from biosnn import cache

    try:
        return str(cache.root())
    except OSError:
        return os.environ.get(cache.ENV) or os.path.join(
            os.path.expanduser("~"), ".cache", "biosnn"
        )


@functools.lru_cache(maxsize=1)
def _cache_version() -> str:
    """Hash of the package key (:func:`biosnn.cache.package_key`) and of the installed
    pint (its ``__init__.py`` size and time).
    """
    import hashlib
    import importlib.util

    from biosnn import cache

    h = hashlib.sha256(CACHE_FORMAT.encode())
    h.update(cache.package_key().encode())
    try:
        spec = importlib.util.find_spec("pint")
        stat = os.stat(spec.origin)
        h.update(f"pint {stat.st_size} {stat.st_mtime_ns}".encode())
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        h.update(b"no pint")
    return h.hexdigest()[:16]


def cache_path() -> str:
    """The unit cache file: ``$BIOSNN_CACHE_DIR/units-<version>.json``."""
    return os.path.join(_cache_root(), f"units-{_cache_version()}.json")


def _read_table(path: str) -> dict:
    """The entries of a cache file; empty when it is missing, does not match its hash or
    is not what we wrote.
    """
    from biosnn import cache

    table = {field: {} for field in _SECTIONS.values()}
    try:
        data = cache.read_record(path)
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return table
        for field in table:
            section = data.get(field, {})
            if not isinstance(section, dict):
                return {field: {} for field in _SECTIONS.values()}
            for text, entry in section.items():
                factor, key = entry
                if (
                    type(factor) is not float
                    or not math.isfinite(factor)
                    or factor == 0
                    or not isinstance(key, str)
                ):
                    raise ValueError(f"bad entry {entry!r}")
                dim_from_key(key)
                table[field][text] = (factor, key)
    except (OSError, ValueError, TypeError, RecursionError):
        return {field: {} for field in _SECTIONS.values()}
    return table


def _table(path: str) -> dict:
    table = _TABLES.get(path)
    if table is None:
        table = _TABLES[path] = _read_table(path)
    return table


def _cached(kind: str, strict: bool, text: str):
    """``(factor, Dimension)`` of ``text`` from the unit cache, or None."""
    entry = _table(cache_path())[_SECTIONS[kind, strict]].get(text)
    return None if entry is None else (entry[0], dim_from_key(entry[1]))


def _store(kind: str, strict: bool, text: str, factor: float, dim) -> None:
    """Add an entry and rewrite the file (merged with what other processes added)."""
    from biosnn import cache

    path = cache_path()
    field = _SECTIONS[kind, strict]
    entry = (float(factor), dim_key(dim))
    table = _table(path)
    table[field][text] = entry
    for other_field, section in _read_table(path).items():
        for other, value in section.items():
            table[other_field].setdefault(other, value)
    data = {"format": CACHE_FORMAT}
    data.update({f: {t: list(e) for t, e in sorted(s.items())} for f, s in table.items()})
    try:
        cache.write_record(path, data)
    except OSError:  # a read-only cache: keep the entry for this process only
        pass


def _round_factor(x: float) -> float:
    """Round a conversion factor to 15 significant digits (1e-3/1e-3 is exactly 1)."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.15g}")


@functools.cache
def _pint_name(name: str) -> str | None:
    """The pint name of a Brian2-style unit name, or None if it is not one."""
    power = ""
    match = re.fullmatch(r"([A-Za-z]+?)([23])", name)
    if match and _pint_name(match.group(1)) and match.group(1) not in _SHORT:
        name, power = match.group(1), f"**{match.group(2)}"
    if name in _LONG:
        return _LONG[name] + power
    if name in _BARE:
        return _SHORT[name] + power
    for plen in (1,):
        prefix, rest = name[:plen], name[plen:]
        if prefix in PREFIXES and (rest in _LONG or rest in _SHORT):
            base = _LONG.get(rest) or _SHORT[rest]
            return PREFIXES[prefix] + base + power
    return None


def is_unit_name(name: str) -> bool:
    """True if ``name`` is a unit usable inside equations (``mV``, ``cm2``, ``siemens``).

    Examples
    --------
    >>> is_unit_name("mV"), is_unit_name("cm2"), is_unit_name("tau")
    (True, True, False)
    """
    return _pint_name(name) is not None


@functools.cache
def unit_name(name: str, *, strict: bool = True):
    """``(factor_to_internal, dimension)`` of a single unit name.

    ``strict=True`` accepts only the Brian2-style names (used inside equations);
    ``strict=False`` also any unit pint knows (used in unit strings).  Answered from the
    unit cache when the name was seen before; pint is imported only for a new one.

    Examples
    --------
    >>> unit_name("nA")[0]
    1000.0
    """
    pname = _pint_name(name)
    if pname is None:
        if strict:
            raise UnitError(f"{name!r} is not a unit")
        pname = name
    else:  # a Brian2-style name: the same answer, strict or not, from the shipped table
        found = _shipped(name)
        if found is not None:
            return found
    found = _cached("name", strict, name)
    if found is not None:
        return found
    factor, dim = _from_pint(pname, name)
    if math.isfinite(factor) and factor != 0:
        _store("name", strict, name, factor, dim)
    return factor, dim


def _from_pint(pname: str, name: str):
    """``(factor_to_internal, Dimension)`` of the pint unit ``pname`` (``name`` as the user
    wrote it, for the error), computed by pint.
    """
    reg = registry()  # outside the try: a missing pint is not an unknown unit
    try:
        unit = reg.Unit(pname)
    except Exception as exc:  # pint's UndefinedUnitError, DefinitionSyntaxError, ...
        raise UnitError(f"unknown unit {name!r}") from exc
    dim = Dimension(unit.dimensionality.items())
    si = reg.Quantity(1.0, unit).to_base_units().magnitude
    scale = 1.0
    for base, exponent in dim.items():
        scale *= _INTERNAL_SCALE[base] ** exponent
    return _round_factor(float(si) / scale), dim


# -- the shipped table ----------------------------------------------------------------------

#: The file of the shipped table, next to this module (package data).
SHIPPED_TABLE = "units_table.json"
#: Bump when the layout of the shipped table changes.
SHIPPED_FORMAT = "1"


def _shipped_names() -> list:
    """Every name :func:`is_unit_name` accepts, sorted: each base name and symbol, alone
    and with each prefix, and each of those with the power ``2`` or ``3`` where allowed.

    Examples
    --------
    >>> names = _shipped_names()
    >>> len(names), "mV" in names, "cm2" in names, "tau" in names
    (1396, True, True, False)
    """
    names = set()
    for base in (*_LONG, *_SHORT):
        for prefix in ("", *PREFIXES):
            for power in ("", "2", "3"):
                name = prefix + base + power
                if _pint_name(name) is not None:
                    names.add(name)
    return sorted(names)


@functools.lru_cache(maxsize=1)
def _shipped_table() -> dict:
    """The shipped table: name -> ``(factor, dimension key)``; empty when the file is
    missing or not in its format (then pint and the unit cache answer, as for any unit).
    """
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED_TABLE)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != SHIPPED_FORMAT:
            return {}
        dims = data["dimensions"]
        return {name: (factor, dims[k]) for name, (factor, k) in data["names"].items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


@functools.cache
def _shipped(name: str):
    """``(factor, Dimension)`` of a name from the shipped table, or None (not in it, or an
    entry of the wrong shape).
    """
    entry = _shipped_table().get(name)
    if entry is None:
        return None
    factor, key = entry
    if type(factor) is not float or not math.isfinite(factor) or factor == 0:
        return None
    try:
        return factor, dim_from_key(key)
    except (ValueError, TypeError, AttributeError):
        return None


def _write_shipped_table(path: str | None = None) -> dict:
    """Compute the shipped table with pint and write it (default: next to this module).

    Run after changing the names, prefixes or internal units, or when a new pint changes
    an answer (``tests/test_units.py`` fails then)::

        python -c "from biosnn.units import _write_shipped_table; _write_shipped_table()"
    """
    import json

    dims: list = []
    names = {}
    for name in _shipped_names():
        factor, dim = _from_pint(_pint_name(name), name)
        key = dim_key(dim)
        if key not in dims:
            dims.append(key)
        names[name] = [factor, dims.index(key)]
    data = {
        "format": SHIPPED_FORMAT,
        "about": "biosnn.units: (factor to the internal unit, dimension) of every unit "
        "name; written by biosnn.units._write_shipped_table with pint",
        "dimensions": dims,
        "names": names,
    }
    if path is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED_TABLE)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=0, separators=(",", ":"))
        fh.write("\n")
    _shipped_table.cache_clear()
    _shipped.cache_clear()
    return data


# -- unit strings ---------------------------------------------------------------------------

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
#: Largest magnitude of an exponent in a unit string (``cm**2``, ``ms**-0.5``).
MAX_EXPONENT = 100


def _walk_unit(node, text: str, strict: bool):
    """(factor, dim) of a unit expression AST: names, numbers, * / **, unary -."""
    if isinstance(node, ast.Expression):
        return _walk_unit(node.body, text, strict)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value), dimensionless()
    if isinstance(node, ast.Name):
        return unit_name(node.id, strict=strict)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        factor, dim = _walk_unit(node.operand, text, strict)
        return (-factor if isinstance(node.op, ast.USub) else factor), dim
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        f1, d1 = _walk_unit(node.left, text, strict)
        f2, d2 = _walk_unit(node.right, text, strict)
        if isinstance(node.op, ast.Mult):
            return f1 * f2, d1 * d2
        return f1 / f2, d1 / d2
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, dim = _walk_unit(node.left, text, strict)
        exponent, edim = _walk_unit(node.right, text, strict)
        if not is_dimensionless(edim):
            raise UnitError(f"the exponent in {text!r} must be a number")
        # NaN (1e400*0), complex ((-1)**0.5) and absurd exponents never reach pint
        if not (
            isinstance(exponent, float)
            and math.isfinite(exponent)
            and abs(exponent) <= MAX_EXPONENT
        ):
            raise UnitError(
                f"the exponent in {text!r} must be a real number between "
                f"-{MAX_EXPONENT} and {MAX_EXPONENT}, not {exponent}"
            )
        if exponent == int(exponent):
            exponent = int(exponent)
        factor = base**exponent
        if not isinstance(factor, float):  # a negative number to a fractional power
            raise UnitError(
                f"cannot read {text!r} as a unit (({base:g})**{exponent} is not a real number)"
            )
        return factor, dim**exponent
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise UnitError(f"'^' is not allowed in {text!r}; write ** for a power (cm**2)")
    raise UnitError(f"cannot read {text!r} as a unit (use names, numbers, *, / and **)")


def _parse_ast(text: str):
    if len(text) > 1000:
        raise UnitError(f"the unit {text[:40]!r}... is too long")
    try:
        return ast.parse(text.strip(), mode="eval")
    except (ValueError, RecursionError, MemoryError):
        raise UnitError(f"cannot read {text[:40]!r} as a unit") from None
    except SyntaxError:
        if "^" in text:
            raise UnitError(
                f"'^' is not allowed in {text!r}; write ** for a power (cm**2)"
            ) from None
        raise UnitError(f"cannot read {text!r} as a unit") from None


_NOT_UNIT_TEXT = re.compile(r"[#\x00-\x08\x0b-\x1f\x7f-\x9f]")


@functools.lru_cache(maxsize=4096)
def parse_unit(text: str, *, strict: bool = False):
    """Parse a unit expression.

    Parameters
    ----------
    text : str
        ``"mV"``, ``"uA/cm**2"``, ``"1/ms"``, ``"1"`` (dimensionless), ``"cm2"``...
    strict : bool
        Accept only Brian2-style names (as inside equations).

    Returns
    -------
    factor : float
        One of this unit expressed in the internal unit of its dimension.
    dimension : Dimension

    Examples
    --------
    >>> parse_unit("mS/cm**2")[0]
    0.01
    """
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"empty unit {text!r}")
    if _NOT_UNIT_TEXT.search(text):  # Python's parser would skip a '# comment'
        raise UnitError(
            f"{text!r} is not a unit ('#' and control characters are not allowed in a unit)"
        )
    tree = _parse_ast(text)
    # only names of the shipped table: computed here, no pint and no cache file
    shipped = all(
        _shipped(node.id) is not None for node in ast.walk(tree) if isinstance(node, ast.Name)
    )
    if not shipped:
        found = _cached("text", strict, text)
        if found is not None:
            return found
    try:
        factor, dim = _walk_unit(tree, text, strict)
    except (OverflowError, ZeroDivisionError, RecursionError, MemoryError):
        raise UnitError(
            f"cannot read {text!r} as a unit (a number is too large, too small or divided by zero)"
        ) from None
    if not math.isfinite(factor) or factor == 0:
        raise UnitError(f"{text!r} is not a usable unit (its size is {factor})")
    factor = _round_factor(factor)
    if not shipped:
        _store("text", strict, text, factor, dim)
    return factor, dim


def split_quantity(text: str):
    """Split ``"-65 mV"`` into ``(-65.0, "mV")``; ``"1/ms"`` into ``(1.0, "1/ms")``.

    Returns None when the text does not start with a number.
    """
    match = re.match(rf"\s*({_NUMBER})\s*(.*?)\s*$", text, re.S)
    if not match:
        return None
    value, rest = float(match.group(1)), match.group(2)
    if rest.startswith("*"):
        rest = rest[1:].strip()
    elif rest.startswith("/"):
        rest = "1" + rest
    return value, (rest or "1")


def parse_quantity(text: str):
    """Parse a number with a unit.

    Returns
    -------
    internal_value : float
    dimension : Dimension
    display_unit : str
        The unit as written (``"uA/cm**2"``), ``"1"`` when there is none.

    Examples
    --------
    >>> value, dim, unit = parse_quantity("10 uA/cm**2")
    >>> round(value, 12), unit
    (0.1, 'uA/cm**2')
    >>> parse_quantity("-65 mV")[0], parse_quantity("1/ms")[2]
    (-65.0, '1/ms')
    """
    parts = split_quantity(text) if isinstance(text, str) else None
    if parts is None:
        raise UnitError(f'cannot read {text!r} as a number with a unit (e.g. "10 ms")')
    value, unit_text = parts
    factor, dim = parse_unit(unit_text)
    if not math.isfinite(value * factor):
        raise UnitError(f"{text!r} is not a finite number (too large)")
    return value * factor, dim, " ".join(unit_text.split())


def parse_time(value, what: str = "", *, positive: bool = False, model=None, error=UnitError):
    """A time in the internal unit (ms) from a number or a string with a unit of time.

    The one reader of times given by a user: durations and steps of ``simulate``, the
    analyses and networks, times in network files, the command line's ``--duration`` and
    ``--dt``.

    Parameters
    ----------
    value : float, int or str
        A number (in ms, or in the model's time unit) or a string with a unit (``"10 ms"``,
        ``"1 s"``).  Booleans, other types, strings that are not times and values that
        are not finite are refused.  NumPy scalars and 0-d arrays count as numbers.
    what : str, optional
        What the value is (``"duration"``, ``"--dt"``): error messages start with it.
    positive : bool, optional
        Refuse zero and negative times.
    model : Model, optional
        Read strings with ``model.time_to_internal`` (the units the model knows, no pint
        on a warm start; a dimensionless model takes plain numbers) and name its time unit.
    error : type, optional
        The exception raised for a value of the wrong type, not finite or not positive
        (default :class:`~biosnn.errors.UnitError`; ``simulate`` raises SimulationError).
        A string that is not a time always raises UnitError.

    Returns
    -------
    float

    Raises
    ------
    UnitError, or ``error``
        One line naming ``what`` and the value.

    Examples
    --------
    >>> parse_time("1 s"), parse_time(2.5), parse_time("10 ms", "dt", positive=True)
    (1000.0, 2.5, 10.0)
    >>> parse_time("5 mV", "duration")
    Traceback (most recent call last):
    ...
    biosnn.errors.UnitError: duration must be a time such as '10 ms', not '5 mV'
    """
    lead = f"{what} " if what else ""
    if isinstance(value, str):
        number = _time_text(value, what, model)
    elif (isinstance(value, numbers.Real) and not isinstance(value, bool)) or (
        getattr(value, "shape", None) == ()
        and getattr(getattr(value, "dtype", None), "kind", None) in ("i", "u", "f")
    ):
        number = value
    elif model is not None and model.time_unit == "1":
        raise error(f"{lead}must be a number (time units), not {_shown(value)}")
    else:
        raise error(f"{lead}must be a number (ms) or a time such as '10 ms', not {_shown(value)}")
    number = float(number)
    if not math.isfinite(number):
        raise error(f"{lead}must be finite, not {_shown(value)}")
    if positive and not number > 0:
        raise error(f"{lead}must be positive, got {_shown(value)}")
    return number


def _shown(value) -> str:
    """``repr(value)``, cut to 80 characters (an error message stays one short line)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _time_text(text: str, what: str, model) -> float:
    """The time of a string for :func:`parse_time` (UnitError naming ``what`` if not)."""
    try:
        if model is not None:
            return model.time_to_internal(text)
        number, dim, _ = parse_quantity(text)
    except ModelError as exc:  # also UnitError; one line, without a file prefix
        shown = _shown(text)
        lead = what if repr(text) in exc.message else f"{what} {shown}".strip()
        raise UnitError(f"{lead}: {exc.message}" if lead else exc.message) from None
    if dim != _TIME:
        lead = f"{what} " if what else ""
        raise UnitError(f"{lead}must be a time such as '10 ms', not {_shown(text)}")
    return number


def is_base_unit_text(text: str) -> bool:
    """True if a unit text uses only unprefixed names (``volt``, ``amp/meter**2``).

    Such declarations display in the internal unit of their dimension (``mV``).
    """
    try:
        tree = _parse_ast(text)
    except UnitError:
        return False
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return all(name in _UNPREFIXED for name in names)


# -- naming dimensions ----------------------------------------------------------------------

# (word, SI name, internal name, dimension in pint's base dimensions)
_M, _L, _T, _I, _N = "[mass]", "[length]", "[time]", "[current]", "[substance]"
_NAMED = (
    ("voltage", "volt", "mV", Dimension({_M: 1, _L: 2, _T: -3, _I: -1})),
    ("current", "amp", "pA", Dimension({_I: 1})),
    ("conductance", "siemens", "nS", Dimension({_M: -1, _L: -2, _T: 3, _I: 2})),
    ("capacitance", "farad", "pF", Dimension({_M: -1, _L: -2, _T: 4, _I: 2})),
    ("resistance", "ohm", "GOhm", Dimension({_M: 1, _L: 2, _T: -3, _I: -2})),
    ("charge", "coulomb", "fC", Dimension({_I: 1, _T: 1})),
    ("concentration", "molar", "mM", Dimension({_N: 1, _L: -3})),
    ("amount", "mole", "amol", Dimension({_N: 1})),
    ("temperature", "kelvin", "K", Dimension({"[temperature]": 1})),
    ("mass", "kilogram", "1e-12*kg", Dimension({_M: 1})),
)
_LENGTH_WORDS = {1: "*length", 2: "*area", 3: "*volume", -1: "/length", -2: "/area", -3: "/volume"}


def _power(name: str, exponent) -> str:
    if exponent == 1:
        return name
    if exponent == int(exponent):
        exponent = int(exponent)
    return f"{name}**{exponent}"


def _decompose(dim):
    """Write ``dim`` as named**k * length**a * time**b, the simplest such way.

    Returns (index into _NAMED or None, k, a, b) or None when impossible.
    """
    return _decompose_dim(dim if isinstance(dim, Dimension) else Dimension(dim.items()))


@functools.cache
def _decompose_dim(dim):
    length, time = Dimension({_L: 1}), _TIME
    best = None
    candidates = [(None, 0)] + [(i, k) for k in (1, -1, 2) for i in range(len(_NAMED))]
    for index, k in candidates:
        base = dimensionless() if index is None else _NAMED[index][3] ** k
        rest = dim / base
        a = rest.get("[length]", 0)
        b = rest.get("[time]", 0)
        if rest / (length**a * time**b) != dimensionless():
            continue
        cost = abs(a) + abs(b) + (1.5 if index is None else abs(k) - 1)
        if best is None or cost < best[0]:
            best = (cost, index, k, a, b)
    return None if best is None else best[1:]


def _compose(index, k, a, b, *, which: int) -> str:
    """Name from a decomposition: which=0 words, 1 SI names, 2 internal names."""
    head = _power(_NAMED[index][which], k) if index is not None and k > 0 else ""
    if which == 0:
        parts = [head if index is None or k > 0 else f"1/{_power(_NAMED[index][0], -k)}"]
        if a in _LENGTH_WORDS:
            parts.append(_LENGTH_WORDS[a])
        elif a:
            parts.append(f"*length**{a}")
        if b:
            parts.append("*time" if b == 1 else "/time" if b == -1 else f"*time**{b}")
        text = "".join(parts)
    else:
        length_name, time_name = ("meter", "second") if which == 1 else ("um", "ms")
        num = [head] if head else []
        den = [_power(_NAMED[index][which], -k)] if index is not None and k < 0 else []
        for name, exponent in ((length_name, a), (time_name, b)):
            if exponent > 0:
                num.append(_power(name, exponent))
            elif exponent < 0:
                den.append(_power(name, -exponent))
        text = "*".join(num) if num else "1"
        if den:
            text += "/" + ("/".join(den))
    if text.startswith("*"):
        text = text[1:]
    if text.startswith("/"):
        text = "1" + text
    return text or ("dimensionless" if which == 0 else "1")


def _fallback(dim, which: int) -> str:
    names = {
        "[length]": ("meter", "um"),
        "[time]": ("second", "ms"),
        "[current]": ("amp", "pA"),
        "[mass]": ("kilogram", "(1e-12*kg)"),
        "[substance]": ("mole", "amol"),
        "[temperature]": ("kelvin", "K"),
        "[luminosity]": ("candela", "cd"),
    }
    parts = [_power(names.get(k, (k, k))[which - 1], v) for k, v in sorted(dim.items())]
    return "*".join(parts)


def internal_unit_name(dim) -> str:
    """Readable name of the internal unit of a dimension.

    Examples
    --------
    >>> internal_unit_name(parse_unit("amp/meter**2")[1])
    'pA/um**2'
    >>> internal_unit_name(parse_unit("Hz")[1]), internal_unit_name(parse_unit("1")[1])
    ('1/ms', '1')
    """
    if is_dimensionless(dim):
        return "1"
    parts = _decompose(dim)
    return _fallback(dim, 2) if parts is None else _compose(*parts, which=2)


def si_unit_name(dim) -> str:
    """Readable SI name of a dimension (``amp/meter**2``)."""
    if is_dimensionless(dim):
        return "1"
    parts = _decompose(dim)
    return _fallback(dim, 1) if parts is None else _compose(*parts, which=1)


def format_dimension(dim) -> str:
    """Words for a dimension, for error messages.

    Examples
    --------
    >>> format_dimension(parse_unit("uA/cm**2")[1])
    'current/area (amp/meter**2)'
    >>> format_dimension(parse_unit("1")[1])
    'dimensionless (1)'
    """
    if is_dimensionless(dim):
        return "dimensionless (1)"
    parts = _decompose(dim)
    if parts is None:
        return _fallback(dim, 1)
    return f"{_compose(*parts, which=0)} ({_compose(*parts, which=1)})"
