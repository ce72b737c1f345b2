"""Values of per-neuron and per-synapse quantities: numbers, arrays and distributions.

A parameter, an initial value, a synaptic weight or a delay of a network object can be

* a number, in the display unit of the variable (``-65`` for a voltage shown in mV);
* a string with a unit (``"-65 mV"``, ``"0.5 nS"``);
* an array with one value per neuron (or synapse), in the display unit;
* a :class:`Distribution`: :class:`Uniform`, :class:`Normal` (optionally truncated),
  :class:`LogNormal` or :class:`Constant`, whose parameters are numbers (display unit) or
  strings with units.

:func:`draw` turns any of these into a float64 array of ``n`` values in *internal* units
(ms, mV, pA, nS, ... see docs/architecture.md).  The caller says how to convert with
``convert``: a function mapping a number or a string in the display unit to the internal
unit, e.g. ``lambda x: model.to_internal("V", x)``, which also checks the dimension of a
string.  Distributions convert their parameters first and then draw in internal units
(all unit conversions are scale factors, so this equals drawing in the display unit and
converting).

Network files (TOML) write distributions as text; :func:`parse_value` reads
``"uniform(-60 mV, -50 mV)"``, ``"normal(4 nS, 1.5 nS, low=0 nS)"``,
``"lognormal(1 nS, 0.5 nS)"``, ``"constant(2 ms)"`` or a plain quantity ``"-65 mV"`` with a
small regular-expression parser (nothing is evaluated).  ``str(distribution)`` writes the
same text back.

Examples
--------
>>> import numpy as np
>>> from biosnn.network.values import Uniform, Normal, draw, parse_value
>>> rng = np.random.default_rng(1)
>>> v = draw(Uniform("-60 mV", "-50 mV"), 1000, rng)
>>> bool(v.min() >= -60 and v.max() <= -50), v.shape
(True, (1000,))
>>> parse_value("normal(4 nS, 1.5 nS, low=0 nS)")
Normal(mean='4 nS', sd='1.5 nS', low='0 nS', high=None)
>>> str(Uniform(-60, -50))
'uniform(-60, -50)'
>>> draw("-65 mV", 3, rng, convert=lambda x: float(x.split()[0]) if isinstance(x, str) else x)
array([-65., -65., -65.])
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields

import numpy as np

from biosnn.errors import ModelError

__all__ = [
    "Distribution",
    "Uniform",
    "Normal",
    "LogNormal",
    "Constant",
    "draw",
    "parse_value",
]

Scalar = float | int | str

#: Smallest probability mass a truncated Normal may keep inside [low, high]; below it the
#: redraw would need more than ~1000 tries per value and the request is almost surely a
#: mistake (a bound on the wrong side, a unit typo).
MIN_TRUNCATED_MASS = 1e-3


def _fmt(value) -> str:
    """A parameter as written in the text form (strings as given, numbers shortest)."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return repr(float(value))


def _check_param(owner: str, name: str, value, *, optional: bool = False):
    """A distribution parameter must be a finite real number or a string with a unit."""
    if value is None and optional:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise ModelError(f"{owner}: the parameter {name} is an empty string")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ModelError(
            f"{owner}: the parameter {name} must be a number or a string with a "
            f"unit such as '-60 mV', not {value!r}"
        )
    if not math.isfinite(float(value)):
        raise ModelError(f"{owner}: the parameter {name} must be finite, not {value!r}")
    return value


def _internal(convert: Callable | None, value, what: str) -> float:
    """One number or string converted to a finite internal float."""
    try:
        if convert is None:
            if isinstance(value, str):
                from biosnn.units import parse_quantity

                out = parse_quantity(value)[0]
            else:
                out = value
        else:
            out = convert(value)
        out = float(np.asarray(out, dtype=float).reshape(()))
    except ModelError as exc:
        raise ModelError(f"{what}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what}: cannot convert {value!r} ({exc})") from None
    if not math.isfinite(out):
        raise ModelError(f"{what}: the value {value!r} is not finite")
    return out


class Distribution:
    """Base class of the value distributions (frozen dataclasses).

    A subclass defines ``_sample(params, n, rng)`` on its parameters already converted to
    internal units (a dict name -> float or None) and the text name ``_name``.
    """

    _name = "distribution"

    def sample(self, n: int, rng, convert: Callable | None = None) -> np.ndarray:
        """``n`` values in internal units (see :func:`draw`)."""
        params = {}
        for f in fields(self):
            value = getattr(self, f.name)
            params[f.name] = (
                None if value is None else _internal(convert, value, f"{self} (parameter {f.name})")
            )
        out = self._sample(params, int(n), _rng(rng))
        return np.ascontiguousarray(out, dtype=np.float64)

    def _sample(self, params: dict, n: int, rng) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __str__(self) -> str:
        args = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.default is MISSING:
                args.append(_fmt(value))
            elif value is not None:
                args.append(f"{f.name}={_fmt(value)}")
        return f"{self._name}({', '.join(args)})"


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform distribution on ``[low, high)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = Uniform(-60, -50).sample(10_000, np.random.default_rng(0))
    >>> bool(-60 <= x.min() and x.max() < -50), round(float(x.mean()))
    (True, -55)
    """

    low: Scalar
    high: Scalar
    _name = "uniform"

    def __post_init__(self):
        _check_param("Uniform", "low", self.low)
        _check_param("Uniform", "high", self.high)
        if (
            not isinstance(self.low, str)
            and not isinstance(self.high, str)
            and self.high < self.low
        ):
            raise ModelError(f"{self}: high must not be below low")

    def _sample(self, p, n, rng):
        if p["high"] < p["low"]:
            raise ModelError(f"{self}: high must not be below low")
        return rng.uniform(p["low"], p["high"], n)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal (Gaussian) distribution, optionally truncated to ``[low, high]``.

    Truncation is by redrawing the values that fall outside (so the result is the normal
    density restricted to the interval and renormalised).  If the interval holds less than
    ``MIN_TRUNCATED_MASS`` (0.1 %) of the distribution a :class:`~biosnn.errors.ModelError`
    says so instead of drawing for a very long time.

    Examples
    --------
    >>> import numpy as np
    >>> x = Normal(4, 1.5, low=0).sample(10_000, np.random.default_rng(0))
    >>> bool(x.min() >= 0), round(float(np.median(x)), 1)
    (True, 4.0)
    """

    mean: Scalar
    sd: Scalar
    low: Scalar | None = None
    high: Scalar | None = None
    _name = "normal"

    def __post_init__(self):
        _check_param("Normal", "mean", self.mean)
        _check_param("Normal", "sd", self.sd)
        _check_param("Normal", "low", self.low, optional=True)
        _check_param("Normal", "high", self.high, optional=True)
        if not isinstance(self.sd, str) and self.sd < 0:
            raise ModelError(f"{self}: the standard deviation sd must not be negative")
        if (
            isinstance(self.low, numbers.Real)
            and isinstance(self.high, numbers.Real)
            and not self.low < self.high
        ):
            raise ModelError(f"{self}: low must be below high")

    def _sample(self, p, n, rng):
        mean, sd, low, high = p["mean"], p["sd"], p["low"], p["high"]
        if sd < 0:
            raise ModelError(f"{self}: the standard deviation sd must not be negative")
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high
        if not lo < hi:
            raise ModelError(f"{self}: low must be below high")
        if sd == 0:
            if not lo <= mean <= hi:
                raise ModelError(f"{self}: sd is 0 and the mean lies outside [low, high]")
            return np.full(n, mean)
        if low is None and high is None:
            return rng.normal(mean, sd, n)
        # mass of N(mean, sd) inside [lo, hi], accurate in both tails
        a, b = (lo - mean) / sd, (hi - mean) / sd
        if a > 0:
            mass = 0.5 * (math.erfc(a / math.sqrt(2)) - math.erfc(b / math.sqrt(2)))
        else:
            mass = 0.5 * (math.erfc(-b / math.sqrt(2)) - math.erfc(-a / math.sqrt(2)))
        if mass < MIN_TRUNCATED_MASS:
            raise ModelError(
                f"{self}: the interval [low, high] holds only {mass:.2g} of the normal "
                f"distribution (at least {MIN_TRUNCATED_MASS:g} is needed); check the "
                "bounds and their units"
            )
        out = np.empty(n)
        filled = 0
        while filled < n:
            need = n - filled
            batch = rng.normal(mean, sd, int(need / mass * 1.1) + 16)
            batch = batch[(batch >= lo) & (batch <= hi)][:need]
            out[filled : filled + batch.size] = batch
            filled += batch.size
        return out


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal distribution given by the **mean and standard deviation of the values
    themselves** (not of their logarithm).

    With ``m = mean`` and ``s = sd`` the underlying normal has
    ``sigma**2 = log(1 + s**2/m**2)`` and ``mu = log(m) - sigma**2/2``, so that the drawn
    values have mean ``m`` and standard deviation ``s``.  The mean must be positive
    (weights of inhibitory synapses: draw positive values and subtract in the equations).

    Examples
    --------
    >>> import numpy as np
    >>> x = LogNormal(1.0, 0.5).sample(200_000, np.random.default_rng(0))
    >>> bool(x.min() > 0), round(float(x.mean()), 2), round(float(x.std()), 2)
    (True, 1.0, 0.5)
    """

    mean: Scalar
    sd: Scalar
    _name = "lognormal"

    def __post_init__(self):
        _check_param("LogNormal", "mean", self.mean)
        _check_param("LogNormal", "sd", self.sd)
        if not isinstance(self.mean, str) and self.mean <= 0:
            raise ModelError(f"{self}: the mean of a log-normal distribution must be positive")
        if not isinstance(self.sd, str) and self.sd < 0:
            raise ModelError(f"{self}: the standard deviation sd must not be negative")

    def _sample(self, p, n, rng):
        m, s = p["mean"], p["sd"]
        if m <= 0:
            raise ModelError(f"{self}: the mean of a log-normal distribution must be positive")
        if s < 0:
            raise ModelError(f"{self}: the standard deviation sd must not be negative")
        sigma2 = math.log1p((s / m) ** 2)
        return rng.lognormal(math.log(m) - sigma2 / 2, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class Constant(Distribution):
    """The same value for every neuron or synapse (``Constant("2 ms")`` == ``"2 ms"``).

    Examples
    --------
    >>> import numpy as np
    >>> Constant(2.5).sample(3, np.random.default_rng(0))
    array([2.5, 2.5, 2.5])
    """

    value: Scalar
    _name = "constant"

    def __post_init__(self):
        _check_param("Constant", "value", self.value)

    def _sample(self, p, n, rng):
        return np.full(n, p["value"])


def _rng(rng):
    """A numpy Generator from a Generator, a seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or an integer seed, not {rng!r}")


_CALL = re.compile(r"\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)


def draw(
    value, n: int, rng=None, convert: Callable | None = None, *, name: str = "value"
) -> np.ndarray:
    """``n`` values of a quantity in internal units, as a float64 array.

    Parameters
    ----------
    value : number, str, array-like or Distribution
        A number (display unit), a string with a unit (``"-65 mV"``), the text form of a
        distribution (``"uniform(-60 mV, -50 mV)"``, see :func:`parse_value`), an array of
        exactly ``n`` values (display unit, or strings with units), or a
        :class:`Distribution`.
    n : int
        Number of values (neurons or synapses).
    rng : numpy.random.Generator or int or None
        Random generator for distributions (an int is used as a seed).
    convert : callable, optional
        Maps a number or string in the display unit (and a float array, for array values) to
        internal units, e.g. ``lambda x: model.to_internal("V", x)``.  Default: numbers
        unchanged and strings converted to biosnn's internal unit of their dimension
        (without a dimension check).
    name : str
        What the value is (``"V of population 'exc'"``), used in error messages.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, float64, internal units.

    Examples
    --------
    >>> import numpy as np
    >>> draw(2.0, 3, None)
    array([2., 2., 2.])
    >>> draw([1, 2, 3], 3, None, convert=lambda x: np.asarray(x, float) * 1000)
    array([1000., 2000., 3000.])
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(
            f"the number of values for {name} must be a non-negative integer, not {n!r}"
        )
    n = int(n)
    if isinstance(value, str) and _CALL.match(value):
        value = parse_value(value)
    if isinstance(value, Distribution):
        try:
            return value.sample(n, rng, convert)
        except ModelError as exc:
            raise ModelError(f"{name}: {exc}") from None
    if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool):
        return np.full(n, _internal(convert, value, name))
    if isinstance(value, (bool, dict, set)) or callable(value) or value is None:
        raise TypeError(
            f"{name} must be a number, a string with a unit, an array of {n} "
            f"values or a Distribution, not {value!r}"
        )
    if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
        values = [_internal(convert, v, f"{name}[{k}]") for k, v in enumerate(value)]
        array = np.asarray(values, dtype=np.float64)
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a number, a string with a unit, an array of {n} "
                f"values or a Distribution, not {value!r}"
            ) from None
        if array.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of {n} values, got shape {array.shape}")
        if array.size != n:
            raise ValueError(
                f"{name} must have {n} values (one per neuron or synapse), got {array.size}"
            )
        if convert is not None:
            array = np.asarray(convert(array), dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(
            f"{name} must have {n} values (one per neuron or synapse), got {array.size}"
        )
    return np.ascontiguousarray(array)


# -- text form -------------------------------------------------------------------------------

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z_][\w*/().\s]*|/[\w*/().\s]*)?\s*$")
_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=(.*)$", re.S)
_KINDS = {"uniform": Uniform, "normal": Normal, "lognormal": LogNormal, "constant": Constant}


def _parse_quantity_text(text: str, where: str):
    """A number (float) or a number with a unit (the stripped string)."""
    match = _QUANTITY.match(text)
    if not match or not text.strip():
        raise ModelError(
            f"{where}: {text.strip()!r} is not a number or a number with a unit (e.g. '-60 mV')"
        )
    if match.group(2) is None or not match.group(2).strip():
        return float(match.group(1))
    return " ".join(text.split())


def parse_value(text):
    """Read a value written in a network file.

    Parameters
    ----------
    text : str or number
        ``"uniform(low, high)"``, ``"normal(mean, sd)"`` (optionally ``low=...``,
        ``high=...``), ``"lognormal(mean, sd)"``, ``"constant(value)"``, each argument a
        number or a number with a unit; or a plain ``"-65 mV"``; or a number.

    Returns
    -------
    Distribution, str or float
        A Distribution for the function forms; a plain quantity string is returned as it
        is (stripped) and a plain number as a float, for :func:`draw` to convert.

    Examples
    --------
    >>> parse_value("uniform(-60 mV, -50 mV)")
    Uniform(low='-60 mV', high='-50 mV')
    >>> parse_value("lognormal(1, 0.5)")
    LogNormal(mean=1.0, sd=0.5)
    >>> parse_value(" -65 mV "), parse_value(3)
    ('-65 mV', 3.0)
    """
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        raise ModelError(
            f"a value must be a number or a text such as 'uniform(-60 mV, -50 mV)', not {text!r}"
        )
    if len(text) > 500:
        raise ModelError(f"the value {text[:40]!r}... is too long")
    call = _CALL.match(text)
    if not call:
        return _parse_quantity_text(text, f"cannot read the value {text.strip()!r}")
    kind, body = call.group(1), call.group(2)
    where = f"in {text.strip()!r}"
    cls = _KINDS.get(kind.lower())
    if cls is None:
        raise ModelError(f"{where}: unknown distribution {kind!r}; use one of {', '.join(_KINDS)}")
    if "(" in body or ")" in body:
        raise ModelError(
            f"{where}: arguments must be numbers with units; parentheses inside "
            "the arguments are not allowed"
        )
    names = [f.name for f in fields(cls)]
    args, kwargs = [], {}
    for part in body.split(",") if body.strip() else []:
        keyword = _KEYWORD.match(part)
        if keyword:
            key = keyword.group(1)
            if key not in names:
                raise ModelError(
                    f"{where}: {kind} has no parameter {key!r} (it has {', '.join(names)})"
                )
            if key in kwargs:
                raise ModelError(f"{where}: the parameter {key!r} is given twice")
            kwargs[key] = _parse_quantity_text(keyword.group(2), where)
        else:
            if kwargs:
                raise ModelError(f"{where}: a positional argument follows a keyword argument")
            args.append(_parse_quantity_text(part, where))
    if len(args) > len(names):
        raise ModelError(
            f"{where}: {kind} takes at most {len(names)} arguments "
            f"({', '.join(names)}), got {len(args)}"
        )
    for key in names[: len(args)]:
        if key in kwargs:
            raise ModelError(f"{where}: the parameter {key!r} is given twice")
    given = dict(zip(names[: len(args)], args, strict=True), **kwargs)
    required = [f.name for f in fields(cls) if f.default is MISSING]
    missing = [key for key in required if key not in given]
    if missing:
        raise ModelError(
            f"{where}: {kind} needs {', '.join(required)}; missing {', '.join(missing)}"
        )
    return cls(**given)
