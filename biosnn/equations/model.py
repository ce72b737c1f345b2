"""The Model: equations with units, parameters, initial values and events; frozen.

A :class:`Model` is built once from text (checked: syntax, names, units) and never changes;
:meth:`Model.with_params` and :meth:`Model.with_preset` return new models.  Everything
numeric inside is in the internal unit system of :mod:`biosnn.units` (ms, mV, pA, um, ...);
every variable also has a *display unit* (the unit written where it was declared), used
for numbers given by users and for results.

Two passes over the same code (:class:`~biosnn.equations.parser.Converter`):

* **checking**, in the constructor, without sympy: syntax, names, units, events, presets,
  defaults.  Every error a model can have is raised here.  Names, parameters, display
  units, :attr:`Model.key` and :attr:`Model.structure_key` come from this pass, so loading
  a model costs milliseconds and imports neither sympy nor scipy (start-up is part of
  performance: see docs/architecture.md).
* **building** the sympy expressions (:attr:`Model.rhs`, :attr:`Model.aliases`,
  :meth:`Model.kernel_spec`, initial values ...) on first use, once.

Examples
--------
>>> from biosnn import Model
>>> lif = Model('''
...     dv/dt = (El - v)/tau + I/C : volt (unless refractory)
...     ''', params={"El": "-65 mV", "tau": "10 ms", "I": "0.2 nA", "C": "200 pF"},
...     init={"v": "-65 mV"}, threshold="v > -50*mV", reset="v = El",
...     refractory="2 ms", name="lif")
>>> lif.states, lif.params["I"], lif.display_unit("I")
(('v',), 0.2, 'nA')
>>> lif.rhs["v"]
(El - v)/tau + I/C
>>> spec = lif.kernel_spec()
>>> spec.crossing, spec.reset
(v + 50, ((0, El),))
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import numbers
import re
import types
from dataclasses import dataclass

from biosnn import units
from biosnn.equations import manifest, parser
from biosnn.equations.parser import BOOL, Converter
from biosnn.errors import ModelError, UnitError
from biosnn.names import check_identifier, is_variable

__all__ = ["Model", "Origin", "evaluate", "build_kernel_spec", "SPEC_VERSION"]

#: Bump when the lowering (parser, units, kernel_spec) changes what a text compiles to.
SPEC_VERSION = "1"


@dataclass(frozen=True)
class Origin:
    """Where a model's text comes from, for error messages (set by model files).

    ``labels`` maps "params", "initial", "threshold", "reset", "refractory", "presets" to
    the words naming them (``"[parameters]"`` in a file, ``"params"`` in Python).
    """

    source: str | None = None
    equations_line: int = 1
    labels: tuple = ()
    #: ``(("name", line), ("presets.RS", line), ...)``: where names are given in the file
    lines: tuple = ()

    def label(self, key: str) -> str:
        return dict(self.labels).get(key, key)

    def line(self, key: str) -> int | None:
        return dict(self.lines).get(key)


def _suggest(name, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _check_names(name, presets, origin) -> None:
    """The model's name and its preset names are identifiers (:mod:`biosnn.names`)."""
    source = origin.source if origin is not None else None
    line = origin.line if origin is not None else (lambda key: None)
    check_identifier(name, "the model name", source=source, line=line("name"))
    for key in presets or {}:
        check_identifier(key, "the preset name", source=source, line=line(f"presets.{key}"))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _deprecated_initial(init, initial):
    """``init`` from the deprecated keyword ``initial=`` (one warning that says what to write)."""
    import warnings

    if init is not None:
        raise ModelError("give the initial values once, as init= (initial= is its old name)")
    warnings.warn(
        "Model(initial=...) is deprecated; write Model(init=...) (the same dict)",
        DeprecationWarning,
        stacklevel=3,
    )
    return initial


class Model:
    """A neuron model: equations with units, parameters, initial values, events.

    Parameters
    ----------
    equations : str
        Brian2-style equations (see docs/architecture.md).
    params : dict, optional
        name -> default: a string with a unit (``"10 ms"``) or a number in the display unit
        of the parameter declared in the equations (``tau : second`` -> ms).  A name not
        declared in the equations declares a new parameter (its unit is the string's).
    init : dict, optional
        state -> a string with a unit (``"-65 mV"``), a number (display unit) or an
        expression of parameters, aliases and states given before (``"alpha/(alpha +
        beta)"``).  States not given start at 0.  (``initial=`` is the deprecated name of
        this argument: it still works, with a DeprecationWarning.)
    threshold : str, optional
        Spike condition (``"v > -50*mV"``); a spike is an upward crossing.
    reset : str, optional
        Statements ``"v = c; u += d"`` run at each spike.
    refractory : str or number, optional
        A time (``"2 ms"``, a number in ms), a parameter name, or a condition.
    name : str
        Model name: a letter, then letters, digits or underscores, at most 64 characters
        (:data:`biosnn.names.PATTERN`).
    time : str, optional
        ``"1"`` for dimensionless time; default: dimensionless iff no unit appears anywhere.
    presets : dict, optional
        name -> {param: value, "description": str}; preset names follow the rule of
        ``name``.
    description, reference : str
        Free text (not part of the model's identity).

    Examples
    --------
    >>> from biosnn import Model
    >>> fhn = Model('''dv/dt = v - v**3/3 - w + I : 1
    ...               dw/dt = eps*(v + a - b*w) : 1''',
    ...             params={"I": 0.5, "eps": 0.08, "a": 0.7, "b": 0.8})
    >>> fhn.time_dimensionless, fhn.jacobian.tolist()
    (True, [[1 - v**2, -1], [eps, -b*eps]])
    """

    def __init__(
        self,
        equations,
        params=None,
        init=None,
        threshold=None,
        reset=None,
        refractory=None,
        name="model",
        time=None,
        presets=None,
        description="",
        reference="",
        *,
        initial=None,
        _origin: Origin | None = None,
        _parent=None,
        _manifest=None,
    ):
        if initial is not None:
            init = _deprecated_initial(init, initial)
        for key, value in (("params", params), ("init", init), ("presets", presets)):
            if value is not None and not isinstance(value, dict):
                raise ModelError(f"{key} must be a dict, not {type(value).__name__}")
        _check_names(name, presets, _origin)
        for key, value in (presets or {}).items():
            if not isinstance(value, dict):
                raise ModelError(f"preset {key!r} must be a dict of parameter values")
        args = dict(
            equations=equations,
            params=dict(params or {}),
            initial=dict(init or {}),
            threshold=threshold,
            reset=reset,
            refractory=refractory,
            name=name,
            time=time,
            presets={k: dict(v) for k, v in (presets or {}).items()},
            description=description,
            reference=reference,
            _origin=_origin,
        )
        cache: dict = {}
        # warm start (docs/architecture.md): the manifest given (unpickling), stored under
        # the key of these arguments, or derived from the parent's (with_params); else
        # the checking pass, whose result is stored for the next process
        disk_key = manifest.args_key(args)
        fields = data = None
        for find, where in (
            (lambda: _manifest, disk_key),
            (lambda: _stored(disk_key), disk_key),
            (lambda: _derived(_parent, args), "parent"),
        ):
            data = find()
            fields = _fields(data, args) if data is not None else None
            if fields is not None:
                disk_key = _parent._disk_key if where == "parent" else where
                break
        if fields is None:
            builder = _Builder(args)
            built = builder.build()
            data = builder.manifest(built)
            fields = _fields(data, args)
            cache.update(builder=builder, dims=builder.dims, statements=built["_statements"])
            if disk_key is not None:
                manifest.write("model", disk_key, data)
        object.__setattr__(self, "_args", args)
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_manifest", data)
        object.__setattr__(self, "_disk_key", disk_key)
        object.__setattr__(self, "_cache", cache)

    # immutability, identity -----------------------------------------------------------
    def __setattr__(self, name, value):
        raise AttributeError("a Model is immutable; use with_params() or with_preset()")

    def __delattr__(self, name):
        raise AttributeError("a Model is immutable")

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Model) and other.key == self.key

    def __reduce__(self):
        return (_rebuild, (self._args, self._manifest))

    # built on first use: the checking pass (after a warm start), the sympy side ----------
    @property
    def _builder(self) -> _Builder:
        if "builder" not in self._cache:
            builder = _Builder(self._args)
            built = builder.build()
            self._cache.update(builder=builder, statements=built["_statements"])
        return self._cache["builder"]

    @property
    def _dims(self) -> dict:
        """Name -> dimension (a :class:`~biosnn.units.Dimension`)."""
        if "dims" not in self._cache:
            self._cache["dims"] = {
                n: units.dim_from_key(k) for n, k in self._manifest["dims"].items()
            }
        return self._cache["dims"]

    @property
    def _statements(self) -> tuple:
        if "statements" not in self._cache:
            origin = self._args["_origin"] or Origin()
            self._cache["statements"] = tuple(
                parser.parse_equations(
                    self._args["equations"], source=origin.source, first_line=origin.equations_line
                )
            )
        return self._cache["statements"]

    def _symbolic(self) -> dict:
        if "symbolic" not in self._cache:
            self._cache["symbolic"] = self._builder.build_symbolic()
        return self._cache["symbolic"]

    _rhs = property(lambda self: self._symbolic()["rhs"])
    _raw = property(lambda self: self._symbolic()["raw"])
    _aliases = property(lambda self: self._symbolic()["aliases"])
    _noise = property(lambda self: self._symbolic()["noise"])
    _symbols = property(lambda self: self._symbolic()["symbols"])
    _initial = property(lambda self: self._symbolic()["initial"])
    _threshold = property(lambda self: self._symbolic()["threshold"])
    _reset = property(lambda self: self._symbolic()["reset"])
    _refractory_time = property(lambda self: self._symbolic()["refractory_time"])
    _refractory_condition = property(lambda self: self._symbolic()["refractory_condition"])

    # public attributes ----------------------------------------------------------------
    @property
    def structure_key(self) -> str:
        """Hex sha256 of everything kernels depend on (equations, parameter names and
        order, events, time), computed from the text: equal for models that differ only in
        defaults, initial values or presets.  Caches can look up a compiled kernel by it
        without building :meth:`kernel_spec` (include :data:`SPEC_VERSION`, which it
        does, and the backend's own version).
        """
        return self._structure_key_value

    @property
    def states(self) -> tuple:
        """State names, in the order of their equations."""
        return self._states

    @property
    def params(self) -> types.MappingProxyType:
        """Parameter name -> default value in its display unit."""
        return types.MappingProxyType(dict(self._params))

    @property
    def aliases(self) -> types.MappingProxyType:
        """Alias name -> sympy expression (internal units, aliases substituted)."""
        return types.MappingProxyType(dict(self._aliases))

    @property
    def initial(self) -> types.MappingProxyType:
        """State -> initial value in its display unit, with the default parameters."""
        values = self.initial_state()
        return types.MappingProxyType(
            {s: float(self.from_internal(s, values[s])) for s in self._states}
        )

    @property
    def initial_exprs(self) -> types.MappingProxyType:
        """State -> initial value as a sympy expression of parameters (internal units)."""
        return types.MappingProxyType(dict(self._initial))

    @property
    def rhs(self) -> types.MappingProxyType:
        """State -> drift (sympy, internal units, aliases substituted, noise excluded)."""
        return types.MappingProxyType(dict(self._rhs))

    @property
    def noise(self) -> types.MappingProxyType:
        """State -> tuple of coefficients of the white noises :attr:`noises`."""
        return types.MappingProxyType(dict(self._noise))

    @property
    def noises(self) -> tuple:
        """White-noise names (``xi``, ``xi_1``, ...), sorted."""
        return self._noises

    @property
    def symbols(self) -> types.MappingProxyType:
        """Name -> sympy Symbol of every state, parameter and ``t``."""
        return types.MappingProxyType(dict(self._symbols))

    @property
    def presets(self) -> types.MappingProxyType:
        """Preset name -> description."""
        return types.MappingProxyType(
            {k: str(v.get("description", "")) for k, v in self._args["presets"].items()}
        )

    @property
    def time_unit(self) -> str:
        """``"ms"``, or ``"1"`` for dimensionless time."""
        return "1" if self.time_dimensionless else "ms"

    @property
    def description(self) -> str:
        return self._args["description"]

    @property
    def reference(self) -> str:
        return self._args["reference"]

    @property
    def jacobian(self):
        """``d rhs_i / d y_j`` as a sympy Matrix (states x states)."""
        import sympy

        if "jacobian" not in self._cache:
            ys = [self._symbols[s] for s in self._states]
            f = sympy.Matrix([self._rhs[s] for s in self._states])
            self._cache["jacobian"] = f.jacobian(ys)
        return self._cache["jacobian"]

    def param_derivative(self, name: str):
        """``d rhs / d name`` (a column Matrix, one row per state, internal units).

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = -v/tau : 1", params={"tau": 2.0})
        >>> m.param_derivative("tau")
        Matrix([[v/tau**2]])
        """
        import sympy

        self._check_param(name)
        p = self._symbols[name]
        return sympy.Matrix([sympy.diff(self._rhs[s], p) for s in self._states])

    def dimension(self, name: str):
        """The :class:`~biosnn.units.Dimension` of a state, parameter, alias or ``t``."""
        self._check_name(name)
        return self._dims[name]

    # display units ----------------------------------------------------------------------
    def display_unit(self, name: str) -> str:
        """The unit users see for ``name`` (``"mV"``, ``"uA/cm**2"``, ``"ms"``, ``"1"``).

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = (I - v/R)/C : volt", params={"I": "0.1 nA", "R": "100 Mohm",
        ...           "C": "100 pF"})
        >>> m.display_unit("v"), m.display_unit("I"), m.display_unit("R")
        ('mV', 'nA', 'Mohm')
        """
        self._check_name(name)
        return self._display[name][0]

    def to_internal(self, name: str, value):
        """Convert a value of ``name`` to internal units.

        ``value``: a number or array in the display unit, a string with a unit
        (``"0.1 nA"``; its dimension is checked), a list of such, or a
        :class:`~biosnn.stimulus.Stimulus` (values in the display unit).

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = I/C : volt", params={"I": "10 uA/cm**2", "C": "1 uF/cm**2"})
        >>> round(float(m.to_internal("I", 10)), 12), float(m.to_internal("I", "0.1 nA/um**2"))
        (0.1, 100.0)
        """
        import numpy as np

        self._check_name(name)
        factor = self._display[name][1]
        if isinstance(value, str):
            return np.float64(self._quantity(name, value, f"the value of {name}"))
        if hasattr(value, "scaled") and hasattr(value, "breakpoints"):
            return value.scaled(factor)
        if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
            return np.array([self.to_internal(name, v) for v in value], dtype=float)
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ModelError(
                f"the value of {name} must be a number, an array or a string "
                f"with a unit, not {value!r}"
            ) from None
        return array * factor

    def from_internal(self, name: str, array):
        """Convert internal values of ``name`` to its display unit."""
        import numpy as np

        self._check_name(name)
        return np.asarray(array, dtype=float) / self._display[name][1]

    def time_to_internal(self, value):
        """A time or duration in internal units: ``1000`` (ms), ``"1 s"`` -> 1000.0.

        Dimensionless models take plain numbers.

        Examples
        --------
        >>> from biosnn import Model
        >>> float(Model("dv/dt = -v/(5*ms) : volt").time_to_internal("1 s"))
        1000.0
        """
        return self.to_internal("t", value)

    def _quantity(self, name, text, what):
        """Internal value of a string for ``name``; the dimension must match."""
        quick = _quick_quantity(text, self._manifest["units"])
        if quick is not None and quick[1] == self._manifest["dims"][name]:
            return quick[0]  # a unit this model's manifest knows: no pint needed
        value, dim, _ = _parse_value(text, what, self._origin_source)
        if dim != self._dims[name] and value != 0:
            raise UnitError(
                f"{what} {text!r} {parser.units_words(dim)} but {name} needs "
                f"{parser.needs_words(self._dims[name])}"
            )
        return value

    # initial state ----------------------------------------------------------------------
    def initial_state(self, params: dict | None = None, t0: float = 0.0) -> dict:
        """Initial value of every state in internal units.

        Parameters
        ----------
        params : dict, optional
            name -> internal value (number or array, one value per instance); missing
            parameters take their defaults.
        t0 : float
            Start time (internal units), for initial values that depend on ``t``.

        Returns
        -------
        dict of state -> float or ndarray
        """
        values = dict(self._defaults)
        for key, value in (params or {}).items():
            self._check_param(key)
            values[key] = value
        values["t"] = t0
        function = self._initial_function()
        if function is None:
            return {s: evaluate(self._initial[s], values) for s in self._states}
        import numpy as np

        computed = iter(function(values))
        return {
            s: np.float64(v) if v is not None else next(computed)
            for s, v in self._manifest["initial"]
        }

    def _initial_function(self):
        """The compiled initial values of the states given as expressions (generated
        NumPy source from the manifest, printed once when sympy is loaded), ``lambda v:
        ()`` when all initial values are numbers, None when it cannot be printed.
        """
        if "initial_fn" in self._cache:
            return self._cache["initial_fn"]
        exprs = [s for s, v in self._manifest["initial"] if v is None]
        source = self._manifest.get("initial_source")
        function = None
        if not exprs:
            function = lambda values: ()  # noqa: E731
        else:
            if source is None:
                from biosnn.codegen.numeric_source import numeric_source

                try:
                    source = numeric_source({"initial": [self._initial[s] for s in exprs]})
                except (ValueError, TypeError):
                    source = ""
                self._manifest["initial_source"] = source
                if self._disk_key is not None:
                    manifest.update("model", self._disk_key, {"initial_source": source})
            if source:
                from biosnn.codegen.numeric_source import compile_numeric

                function = compile_numeric(source, f"<biosnn-initial {self.name} {self.key[:12]}>")[
                    "initial"
                ]
        self._cache["initial_fn"] = function
        return function

    # presets, parameters ----------------------------------------------------------------
    def _check_name(self, name):
        if name not in self._display:
            known = list(self._states) + list(self._params) + list(self._alias_names)
            raise ModelError(
                f"{name} is not a variable of model {self.name}{_suggest(name, known)}"
            )

    def _check_param(self, name):
        if name not in self._params:
            raise ModelError(
                f"{name} is not a parameter of model {self.name}"
                f"{_suggest(name, self._params)}; parameters: "
                f"{', '.join(self._params)}"
            )

    def with_params(self, **values) -> Model:
        """A new model with other default parameter values.

        Values are numbers in the display unit or strings with a unit.  For one value per
        instance pass arrays to ``simulate(..., params=...)`` instead: defaults stay scalar.

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"})
        >>> m.with_params(tau=20).params["tau"], m.with_params(tau="1 s").params["tau"]
        (20.0, 1000.0)
        """
        new = dict(self._args["params"])
        for name, value in values.items():
            self._check_param(name)
            new[name] = self._override(name, value, f"with_params({name}=...)")
        args = dict(self._args, params=new)
        origin = args.pop("_origin", None)
        args["init"] = args.pop("initial")
        return Model(**args, _origin=origin, _parent=self)

    def _override(self, name, value, what):
        """A parameter value as a string in the parameter's display unit."""
        if isinstance(value, str):
            internal = self._quantity(name, value, what)
        elif _is_number(value) or (hasattr(value, "ndim") and value.ndim == 0):
            internal = float(value) * self._display[name][1]
        else:
            raise ModelError(
                f"{what}: a default value must be a number or a string with a "
                "unit; for one value per instance pass an array to "
                "simulate(..., params={...})"
            )
        shown = internal / self._display[name][1]
        unit = self._display[name][0]
        return f"{shown!r} {unit}" if unit != "1" else f"{shown!r}"

    def with_preset(self, name: str) -> Model:
        """A new model with the parameter values of preset ``name``."""
        presets = self._args["presets"]
        if name not in presets:
            raise ModelError(
                f"model {self.name} has no preset {name!r}"
                f"{_suggest(name, presets)}; presets: "
                f"{', '.join(presets) or 'none'}"
            )
        values = {k: v for k, v in presets[name].items() if k != "description"}
        return self.with_params(**values)

    # code generation --------------------------------------------------------------------
    def kernel_spec(self):
        """The :class:`~biosnn.codegen.spec.KernelSpec` of this model (cached; sympy)."""
        if "spec" not in self._cache:
            self._cache["spec"] = build_kernel_spec(self)
        return self._cache["spec"]

    @property
    def layout(self):
        """The :class:`~biosnn.codegen.spec.KernelLayout` of this model: names, flags and
        generated numeric source, without sympy after a warm start.

        What ``simulate`` and the backends use to run a cached kernel; read from the
        cache directory by ``structure_key`` (see docs/architecture.md, "Warm start"),
        else built from :meth:`kernel_spec` and stored.  Its symbolic attributes (``f``,
        ``jac`` ...) build the full KernelSpec on first access.

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"})
        >>> m.layout.states, m.layout.key == m.kernel_spec().key
        (('v',), True)
        """
        if "layout" not in self._cache:
            self._cache["layout"] = self._find_layout()
        return self._cache["layout"]

    def _find_layout(self):
        import functools

        from biosnn.codegen.spec import KernelLayout

        dims = self._manifest["dims"]
        lkey = manifest.layout_key(
            self.structure_key, [dims[n] for n, _, _ in self._manifest["params"]]
        )
        # a partial of a module function, not a closure: the layout (and a Result holding
        # it) pickles with the standard pickle
        store = functools.partial(manifest.update, "layout", lkey)
        data = manifest.read("layout", lkey)
        if data is not None:
            try:
                layout = KernelLayout.from_dict(data, full=self.kernel_spec, store=store)
                if (layout.name, layout.states, layout.params) == (
                    self.name,
                    self._states,
                    tuple(self._params),
                ):
                    return layout
            except (KeyError, TypeError, ValueError):
                pass
        spec = self.kernel_spec()
        layout = KernelLayout.of(spec, _numeric_source_of(spec), full=self.kernel_spec, store=store)
        manifest.write("layout", lkey, layout.to_dict())
        return layout

    # display ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        extra = ", dimensionless time" if self.time_dimensionless else ""
        lines = [
            f"Model {self.name!r} ({len(self._states)} states, "
            f"{len(self._params)} parameters{extra})"
        ]
        lines += ["  " + text for text in self._manifest["statements"]]
        try:
            initial = self.initial
            lines.append(
                "initial: "
                + ", ".join(
                    f"{k} = {_fmt(v)}{_unit_suffix(self._display[k][0])}"
                    for k, v in initial.items()
                )
            )
        except Exception:  # an initial value that cannot be evaluated numerically
            pass
        if self._params:
            lines.append("parameters:")
            lines += [
                f"  {k} = {_fmt(v)}" + _unit_suffix(self._display[k][0])
                for k, v in self._params.items()
            ]
        events = [
            (k, self._args[k])
            for k in ("threshold", "reset", "refractory")
            if self._args[k] is not None
        ]
        if events:
            lines.append("events:")
            lines += [f"  {k} = {v!r}" for k, v in events]
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        import sympy

        rows = []
        for s in self._statements:
            if s.kind == "param":
                continue
            name = sympy.latex(sympy.Symbol(s.name))
            lhs = rf"\frac{{d{name}}}{{dt}}" if s.kind == "diff" else name
            rows.append(rf"{lhs} &= {sympy.latex(self._raw[s.name])}")
        return r"$\begin{aligned}" + r"\\".join(rows) + r"\end{aligned}$"


def _as_evaluated(value: float) -> float:
    """``float(parser.sympy_number(sympy, value))`` without sympy: what ``evaluate`` gives
    for an initial value that is a number (integral values become sympy Integers).
    """
    if value == int(value) and abs(value) < 1e15:
        return float(int(value))
    return value


def _unit_suffix(unit: str) -> str:
    return "" if unit == "1" else f" {unit}"


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _rebuild(args, data=None):
    args = dict(args)
    origin = args.pop("_origin", None)
    args["init"] = args.pop("initial")
    return Model(**args, _origin=origin, _manifest=data)


# -- the warm start: manifests (see biosnn.equations.manifest) ------------------------------


def _stored(disk_key):
    return manifest.read("model", disk_key) if disk_key is not None else None


def _quick_quantity(text, table: dict):
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
    if not _is_number(x):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


def _text(x) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {x!r}")
    return x


def _fields(data, args) -> dict | None:
    """The attributes of a Model from a manifest, or None if it is stale or malformed."""
    try:
        if (
            data.get("format") != manifest.FORMAT
            or data.get("generator") != manifest.generator_version()
        ):
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


def _derived(parent, args) -> dict | None:
    """The manifest of ``parent.with_params(...)`` without the checking pass, or None when
    it cannot be derived exactly (then the checking pass runs, and raises any error).

    Follows ``_Builder._param`` step by step for the parameters whose value changed; the
    tests compare derived and checked models of every library model and preset.
    """
    if parent is None:
        return None
    pdata, pargs = parent._manifest, parent._args
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
        elif _is_number(value):
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
    key = _content_key(
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


def _content_key(events_content, names, defaults, display_units, initial, presets) -> str:
    """Hash of the whole content of a model (defaults, initial values, presets included)."""
    content = {
        **events_content,
        "params": {n: [repr(defaults[n]), display_units[n]] for n in names},
        "initial": {n: (v if isinstance(v, str) else repr(float(v))) for n, v in initial.items()},
        "presets": {k: {kk: repr(vv) for kk, vv in v.items()} for k, v in presets.items()},
    }
    text = json.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -- numeric evaluation of sympy expressions (no lambdify, no eval) ------------------------


def evaluate(expr, values: dict):
    """Evaluate a sympy expression numerically with NumPy; ``values``: name -> array.

    Knows every construct a :class:`~biosnn.codegen.spec.KernelSpec` may contain
    (including ``expm1``, ``log1p`` and the safe functions of
    :mod:`biosnn.codegen.functions`); walks the tree, never ``eval``/``lambdify``.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> float(evaluate(sympy.exp(x) + 1, {"x": 0.0}))
    2.0
    """
    import numpy as np
    import sympy

    def ev(e):
        if e.is_Symbol:
            if e.name not in values:
                raise ModelError(f"cannot evaluate: {e.name} has no value")
            return np.asarray(values[e.name], dtype=float)
        if e.is_Number or e in (sympy.pi, sympy.E):
            return np.float64(float(e))
        if e is sympy.true or e is sympy.false:
            return np.bool_(bool(e))
        args = [ev(a) for a in e.args] if not isinstance(e, sympy.Piecewise) else None
        if e.is_Add:
            return sum(args[1:], args[0])
        if e.is_Mul:
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if e.is_Pow:
            return np.power(args[0], args[1])
        if isinstance(e, sympy.Piecewise):
            conds = [np.asarray(ev(c), dtype=bool) for _, c in e.args]
            vals = [ev(v) for v, _ in e.args]
            return np.select(conds, vals, default=np.nan)
        table = {
            sympy.exp: np.exp,
            sympy.log: np.log,
            sympy.sin: np.sin,
            sympy.cos: np.cos,
            sympy.tan: np.tan,
            sympy.sinh: np.sinh,
            sympy.cosh: np.cosh,
            sympy.tanh: np.tanh,
            sympy.Abs: np.abs,
            sympy.sign: np.sign,
            sympy.floor: np.floor,
            sympy.ceiling: np.ceil,
            sympy.Lt: np.less,
            sympy.Le: np.less_equal,
            sympy.Gt: np.greater,
            sympy.Ge: np.greater_equal,
            sympy.Eq: np.equal,
            sympy.Ne: np.not_equal,
            sympy.Not: np.logical_not,
        }
        func = _known(e.func, table)
        if func is not None:
            return func(*args)
        if e.func.__name__ in ("expm1", "log1p"):  # sympy.codegen.cfunctions
            return getattr(np, e.func.__name__)(*args)
        if getattr(e.func, "numpy_name", ""):  # biosnn.codegen.functions
            from biosnn.codegen.safe_numpy import NUMPY_FUNCTIONS

            return NUMPY_FUNCTIONS[e.func.numpy_name](np.asarray(args[0], dtype=float))
        reduce = {
            sympy.Min: np.minimum,
            sympy.Max: np.maximum,
            sympy.And: np.logical_and,
            sympy.Or: np.logical_or,
        }
        func = _known(e.func, reduce)
        if func is not None:
            out = args[0]
            for a in args[1:]:
                out = func(out, a)
            return out
        raise ModelError(f"cannot evaluate {e} numerically")

    with np.errstate(all="ignore"):
        return ev(sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr)


def _known(cls, table):
    """``table[c]`` for the first class ``c`` of ``cls``'s hierarchy in ``table``, else
    None (biosnn's ``floor``, ``Abs``, ``Max``... subclass sympy's: same evaluation).
    """
    for c in getattr(cls, "__mro__", (cls,)):
        if c in table:
            return table[c]
    return None


class _Overflow(Exception):
    """A term that evaluated to a Float beyond the range of a double (its text)."""


def _xreplace_checked(expr, subs):
    """``expr.xreplace(subs)``, rebuilt bottom-up like sympy's, refusing (``_Overflow``) a
    rebuilt term that evaluates to a Float beyond the range of a double.

    ``I = 1e-12``, ``sin(sinh(1e300*I))``: sympy evaluates ``sinh(1e288)`` to a finite
    mpmath number and ``sin`` of it to pi at ~1e288 digits, a hang; the check between the
    two steps stops it.
    """
    if not subs:
        return expr
    memo = {}

    def rebuild(e):
        if e in subs:
            return subs[e]
        if e in memo:
            return memo[e]
        args, changed = [], False
        for a in e.args:
            if hasattr(a, "_xreplace"):
                b = rebuild(a)
                changed |= b is not a
                args.append(b)
            else:
                args.append(a)
        out = e.func(*args) if changed else e
        if changed and parser.overflows_double(out):
            raise _Overflow(str(e))
        memo[e] = out
        return out

    return rebuild(expr)


def _check_finite(exprs, where: str, how: str, *, line=None, source=None) -> None:
    """Refuse sympy expressions that are infinite, undefined or complex everywhere.

    The parser refuses such terms as it reads them; this catches what appears only after
    aliases are substituted (``a = v - v``, ``dv/dt = 1/a``) or derivatives are taken.
    """
    import sympy

    for e in exprs:
        if not isinstance(e, sympy.Basic):
            continue
        for marker, what in (
            (sympy.zoo, "infinite (such as 1/0 or log(0))"),
            (sympy.nan, "undefined (such as 0/0, inf - inf or 0*inf)"),
            (sympy.I, "not a real number"),
            (sympy.AccumBounds, "not a number (such as cos(inf))"),
        ):
            if e.has(marker):
                raise ModelError(
                    f"{where}: the expression is {what} {how}", line=line, source=source
                )


# -- values ---------------------------------------------------------------------------------


def _parse_value(text: str, what: str, source=None):
    """(internal value, dimension, display unit) of a string such as ``"10 ms"``."""
    parts = units.split_quantity(text)
    unit_error = None
    if parts is not None:
        try:
            return units.parse_quantity(text)
        except UnitError as exc:
            unit_error = exc  # the more precise reason if the expression fails too
    try:
        value, dim = parser.parse_expression(
            text, {}, context=f"in {what}", source=source, symbolic=False
        )
    except ModelError as exc:
        first = unit_error if unit_error is not None else exc
        raise type(first)(
            f"{what}: cannot read {text!r} as a number with a unit ({first.message})", source=source
        ) from None
    if dim == BOOL or not isinstance(value, float):
        raise ModelError(f"{what}: {text!r} is not a number with a unit", source=source)
    return value, dim, units.internal_unit_name(dim)


# -- the builder ----------------------------------------------------------------------------


class _Builder:
    """Turns the constructor arguments into the fields of a Model (all checks here)."""

    def __init__(self, args: dict):
        self.args = args
        self.origin = args["_origin"] or Origin(labels=(("params", "params"),))
        self.source = self.origin.source

    def err(self, message, cls=ModelError, line=None):
        return cls(message, line=line, source=self.source)

    def build(self) -> dict:
        a = self.args
        name = a["name"]
        if not isinstance(name, str) or not name:
            raise self.err("name must be a non-empty string")
        self.statements = parser.parse_equations(
            a["equations"], source=self.source, first_line=self.origin.equations_line
        )
        self._declarations()
        self._events_text()
        self.time_dimensionless = self._time()
        self.T = units.dimensionless() if self.time_dimensionless else units.TIME()
        self._params()
        self._symbols_and_dims()
        self._set_mode(False)  # check everything without sympy
        self._convert_equations()
        self._convert_initial()
        self._convert_events()
        self._check_presets()
        self._check_time_constants()
        out = dict(
            name=name,
            time_dimensionless=self.time_dimensionless,
            _statements=tuple(self.statements),
            _states=tuple(self.states),
            _params=self.param_display,
            _defaults=self.defaults,
            _alias_names=tuple(self.alias_names),
            _noises=self.noises,
            _dims=self.dims,
            _display=self.display,
            _unless_refractory=tuple(
                "unless refractory" in self.decl[s].flags for s in self.states
            ),
            _origin_source=self.source,
            _builder=self,
        )
        out["key"] = self._key()
        out["_structure_key_value"] = self._structure_key()
        return out

    # declarations -----------------------------------------------------------------------
    def _declarations(self):
        self.decl = {}
        for s in self.statements:
            if s.name in self.decl:
                first = self.decl[s.name]
                raise self.err(
                    f"{s.name} is defined twice (line {first.line}: "
                    f"{first.text!r}, and line {s.line}: {s.text!r})",
                    line=s.line,
                )
            self.decl[s.name] = s
        self.states = [s.name for s in self.statements if s.kind == "diff"]
        self.alias_names = [s.name for s in self.statements if s.kind == "alias"]
        self.declared_params = [s.name for s in self.statements if s.kind == "param"]
        if not self.states:
            raise self.err("the model has no differential equation (dx/dt = ... : unit)")

    def _events_text(self):
        """Whitelist-check event strings early (so bad text fails before anything else)."""
        a = self.args
        self.threshold_expr = self.reset_stmts = self.refractory_expr = None
        if a["threshold"] is not None:
            self.threshold_expr = parser.parse_expression_text(
                a["threshold"], source=self.source, what="threshold"
            )
        if a["reset"] is not None:
            self.reset_stmts = parser.parse_reset(a["reset"], source=self.source)
        ref = a["refractory"]
        self.refractory_quantity = None
        if isinstance(ref, str):
            try:
                self.refractory_quantity = units.parse_quantity(ref)[:2]
            except UnitError:
                self.refractory_expr = parser.parse_expression_text(
                    ref, source=self.source, what="refractory"
                )
        elif ref is not None and not _is_number(ref):
            raise self.err(
                f'{self.origin.label("refractory")}: must be a time ("2 ms" or a '
                f"number in ms), a parameter name or a condition, not {ref!r}"
            )

    def _time(self) -> bool:
        time = self.args["time"]
        if time is not None:
            try:
                dim = units.parse_unit(str(time))[1]
            except UnitError as exc:
                raise self.err(f"time = {time!r}: {exc}") from None
            if units.is_dimensionless(dim):
                return True
            if dim != units.TIME():
                raise self.err(f'time = {time!r} must be "1" (dimensionless) or a time unit')
            return False
        return not self._uses_units()

    def _uses_units(self) -> bool:
        for s in self.statements:
            if not units.is_dimensionless(units.parse_unit(s.unit)[1]):
                return True
        own = set(self.decl) | set(self.args["params"])
        values = list(self.args["params"].values()) + list(self.args["initial"].values())
        for p in self.args["presets"].values():
            values += [v for k, v in p.items() if k != "description"]
        for value in values:
            if isinstance(value, str) and self._quantity_of(value, own) is not None:
                if not units.is_dimensionless(self._quantity_of(value, own)[1]):
                    return True
        if self.refractory_quantity and not units.is_dimensionless(self.refractory_quantity[1]):
            return True
        exprs = [s.expr for s in self.statements if s.expr is not None]
        exprs += [e for e in (self.threshold_expr, self.refractory_expr) if e is not None]
        exprs += [r.expr for r in self.reset_stmts or ()]
        for e in exprs:
            if any(units.is_unit_name(n) for n in e.names - own):
                return True
        return False

    @staticmethod
    def _quantity_of(text, own):
        """``parse_quantity(text)[:2]``, or None if it is not a number with a unit or its
        "unit" names a model variable (``"2*h"`` is twice the state h, not two hours).
        """
        parts = units.split_quantity(text)
        if parts is None or set(re.findall(r"[A-Za-z_]\w*", parts[1])) & set(own):
            return None
        try:
            return units.parse_quantity(text)[:2]
        except UnitError:
            try:
                factor, dim = units.parse_unit(parts[1])
            except UnitError:
                return None
            return parts[0] * factor, dim  # too large (inf): the caller says so

    # parameters -------------------------------------------------------------------------
    def _declared_display(self, s):
        """(display unit, factor) of a declaration ``x : unit``."""
        factor, dim = units.parse_unit(s.unit)
        if units.is_base_unit_text(s.unit):
            name = units.internal_unit_name(dim)
            return name, 1.0
        return s.unit, factor

    def _params(self):
        label = self.origin.label("params")
        given = self.args["params"]
        self.param_dims, self.display, self.defaults, self.param_display = {}, {}, {}, {}
        for name in given:
            if not isinstance(name, str):
                raise self.err(f"{label}: parameter names must be strings, not {name!r}")
            if name in self.decl and self.decl[name].kind != "param":
                kind = "a state" if self.decl[name].kind == "diff" else "an alias"
                raise self.err(
                    f"{label}: {name} is {kind} (line {self.decl[name].line}), not a parameter"
                )
            parser.check_name(name, what="parameter", source=self.source)
        order = self.declared_params + [n for n in given if n not in self.declared_params]
        for name in order:
            if name not in given:
                s = self.decl[name]
                raise self.err(
                    f"parameter {name} is declared ({s.text!r}) but has no "
                    f"value; give a default in {label}",
                    line=s.line,
                )
            self._param(name, given[name], f"{label} {name}")
        self.param_names = order

    def _param(self, name, value, what):
        s = self.decl.get(name)
        declared = units.parse_unit(s.unit)[1] if s is not None else None
        if isinstance(value, str):
            internal, dim, unit = _parse_value(value, what, self.source)
            factor = units.parse_unit(unit)[0]
            if declared is not None and dim != declared and internal != 0:
                raise self.err(
                    f"{what} = {value!r} {parser.units_words(dim)} but {name} is "
                    f"declared {s.unit!r} ({units.format_dimension(declared)})",
                    UnitError,
                    line=s.line,
                )
            if declared is not None and dim != declared:  # a bare 0 for a declared parameter
                dim = declared
                unit, factor = self._declared_display(s)
        elif _is_number(value):
            if s is not None:
                unit, factor = self._declared_display(s)
                dim = declared
            else:
                unit, factor, dim = "1", 1.0, units.dimensionless()
            internal = float(value) * factor
        else:
            raise self.err(
                f"{what}: a default must be a number or a string with a unit, not "
                f"{value!r} (for one value per instance pass an array to "
                "simulate(..., params=...))"
            )
        if not math.isfinite(internal):
            raise self.err(f"{what} = {value!r} is not a finite number")
        self.param_dims[name] = dim
        self.display[name] = (unit, factor)
        self.defaults[name] = internal
        self.param_display[name] = internal / factor

    # namespace --------------------------------------------------------------------------
    def _symbols_and_dims(self):
        self.dims = dict(self.param_dims)
        # a variable declared in SI base units shows in the unit the model already uses for
        # its dimension (HH's I_Na in I_ext's uA/cm**2), else in the internal unit
        model_units = {}
        for name in self.param_names:
            model_units.setdefault(self.param_dims[name], self.display[name])
        for n in self.states + self.alias_names:
            self.dims[n] = units.parse_unit(self.decl[n].unit)[1]
            self.display[n] = self._declared_display(self.decl[n])
            if units.is_base_unit_text(self.decl[n].unit) and self.dims[n] in model_units:
                self.display[n] = model_units[self.dims[n]]
        self.dims["t"] = self.T
        self.display["t"] = ("1", 1.0) if self.time_dimensionless else ("ms", 1.0)
        noise_names = set()
        for s in self.statements:
            if s.expr is None:
                continue
            used = {n for n in s.expr.names if parser.is_noise_name(n)}
            if used and s.kind != "diff":
                raise self.err(
                    f"in {s.text!r}: white noise ({', '.join(sorted(used))}) may "
                    "only appear in differential equations",
                    line=s.line,
                )
            noise_names |= used
        self.noises = tuple(sorted(noise_names))
        self.noise_dim = self.T**-0.5
        self.alias_order = self._alias_order()

    def _names_closure(self, names) -> set:
        """Names used, with the names used by the aliases among them (recursively)."""
        out, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n in out:
                continue
            out.add(n)
            if n in self.decl and self.decl[n].kind == "alias":
                todo.extend(self.decl[n].expr.names)
        return out

    def _set_mode(self, symbolic: bool):
        """Checking (no sympy, values are floats or UNKNOWN) or building (sympy)."""
        self.symbolic = symbolic
        names = self.states + self.param_names + self.alias_names
        if symbolic:
            import sympy

            self.symbols = {
                n: sympy.Symbol(n, real=True) for n in self.states + self.param_names + ["t"]
            }
            value = lambda n: sympy.Symbol(n, real=True)  # noqa: E731
        else:
            value = lambda n: parser.UNKNOWN  # noqa: E731
        self.namespace = {n: (value(n), self.dims[n]) for n in names}
        self.namespace["t"] = (value("t"), self.T)
        self.xis = {n: (value(n), self.noise_dim) for n in self.noises}

    def _converter(self, context, namespace=None):
        return Converter(
            self.namespace if namespace is None else namespace, context, symbolic=self.symbolic
        )

    def build_symbolic(self) -> dict:
        """The sympy fields of the Model (run once, lazily, after all checks passed)."""
        self._set_mode(True)
        self._convert_equations()
        self._convert_initial()
        self._convert_events()
        return dict(
            aliases=self.aliases,
            raw=self.raw,
            rhs=self.rhs,
            noise=self.noise,
            symbols=self.symbols,
            initial=self.initial,
            threshold=self.threshold,
            reset=self.reset,
            refractory_time=self.refractory_time,
            refractory_condition=self.refractory_condition,
        )

    # equations --------------------------------------------------------------------------
    def _alias_order(self):
        deps = {
            n: [
                d
                for d in sorted(self.decl[n].expr.names)
                if d in self.decl and self.decl[d].kind == "alias"
            ]
            for n in self.alias_names
        }
        order, state = [], {}

        def visit(n, path):
            if state.get(n) == "done":
                return
            if state.get(n) == "active":
                cycle = path[path.index(n) :] + [n]
                raise self.err(
                    f"circular definition of aliases: {' -> '.join(cycle)}", line=self.decl[n].line
                )
            state[n] = "active"
            for d in deps[n]:
                visit(d, path + [n])
            state[n] = "done"
            order.append(n)

        for n in self.alias_names:
            visit(n, [])
        return order

    def _convert_equations(self):
        self.raw, self.aliases = {}, {}
        for n in self.alias_order:
            s = self.decl[n]
            self.raw[n], _ = self._converter(f'in "{s.text}"').convert(
                s.expr, self.dims[n], needs="the alias is declared as"
            )
        ns_noise = {**self.namespace, **self.xis}
        for n in self.states:
            s = self.decl[n]
            self.raw[n], _ = self._converter(f'in "{s.text}"', ns_noise).convert(
                s.expr, self.dims[n] / self.T
            )
            if not self.symbolic:
                self._check_noise_linear(s)
        if self.symbolic:
            self._substitute()

    def _check_noise_linear(self, s):
        """White noise must enter linearly: never inside a function, a power, a
        denominator, a condition, or multiplied by another noise.
        """

        def has_noise(node):
            return any(
                isinstance(n, ast.Name) and parser.is_noise_name(n.id) for n in ast.walk(node)
            )

        def bad(node):
            if not has_noise(node):
                return False
            if isinstance(node, ast.Name):
                return False
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
                return bad(node.operand)
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                return bad(node.left) or bad(node.right)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                if has_noise(node.left) and has_noise(node.right):
                    return True
                return bad(node.left) or bad(node.right)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                return has_noise(node.right) or bad(node.left)
            return True

        if bad(s.expr.tree.body):
            raise self.err(
                f"in {s.text!r}: white noise must enter linearly (a coefficient "
                "times xi, not inside a function, a power or a denominator)",
                line=s.line,
            )

    def _substitute(self):
        import sympy

        from biosnn.codegen.functions import as_biosnn

        for n in self.alias_order:
            self.aliases[n] = self._xreplace(
                n, self.raw[n], {sympy.Symbol(d, real=True): self.aliases[d] for d in self.aliases}
            )
        self.aliases = {n: self.aliases[n] for n in self.alias_names}
        subs = {sympy.Symbol(n, real=True): e for n, e in self.aliases.items()}
        xsyms = [self.xis[x][0] for x in self.noises]
        self.rhs, self.noise = {}, {}
        for n in self.states:
            # substitution re-evaluates: sympy may nest its own Min/Max/Abs... (whose
            # derivatives do not print) inside biosnn's; as_biosnn puts ours back
            full = as_biosnn(self._xreplace(n, self.raw[n], subs))
            self.rhs[n] = full.xreplace({x: sympy.S.Zero for x in xsyms})
            self.noise[n] = tuple(sympy.diff(full, x) for x in xsyms)
        for n in self.alias_names + self.states:
            _check_finite(
                [self.aliases[n]] if n in self.aliases else [self.rhs[n], *self.noise[n]],
                f"in {self.decl[n].text!r}",
                "once its aliases are substituted",
                line=self.decl[n].line,
                source=self.source,
            )

    def _xreplace(self, name, expr, subs):
        """``expr.xreplace(subs)``; sympy's TypeError/ValueError (a relation that
        becomes ``zoo < 1`` once an alias is substituted) is a ModelError.
        """
        from mpmath.libmp import NoConvergence  # (sympy's dependency)

        try:
            return _xreplace_checked(expr, subs)
        except _Overflow as exc:
            s = self.decl[name]
            raise ModelError(
                f"in {s.text!r}: {exc.args[0]} is too large (beyond the range "
                "of a double) once its aliases are substituted",
                line=s.line,
                source=self.source,
            ) from None
        except (TypeError, ValueError, ArithmeticError, RecursionError, NoConvergence) as exc:
            s = self.decl[name]
            raise ModelError(
                f"in {s.text!r}: cannot be computed once its aliases are substituted ({exc})",
                line=s.line,
                source=self.source,
            ) from None

    def _full_ns(self):
        """Namespace where aliases are their (substituted) expressions."""
        ns = dict(self.namespace)
        if self.symbolic:
            for n, e in self.aliases.items():
                ns[n] = (e, self.dims[n])
        return ns

    # initial values ---------------------------------------------------------------------
    def _convert_initial(self):
        label = self.origin.label("initial")
        self.initial = {}
        given = self.args["initial"]
        for name in given:
            if name not in self.states:
                raise self.err(f"{label}: {self._not_a_state(name)}")
        done = {}
        ns = self._full_ns()
        # internal value of the states whose initial value is a number (as evaluate()
        # would compute it from the sympy number), for the manifest
        self.initial_numbers = {}
        for name, value in given.items():
            what = f"{label} {name}"
            if _is_number(value):
                if not math.isfinite(value):
                    raise self.err(f"{what} = {value!r} is not a finite number")
                internal = float(value) * self.display[name][1]
                if not math.isfinite(internal):  # 1e308 V is inf in mV
                    raise self.err(f"{what} = {value!r} is not a finite number")
                expr = self._number(internal)
                self.initial_numbers[name] = _as_evaluated(internal)
            elif isinstance(value, str):
                expr = self._initial_text(name, value, what, ns, done)
            else:
                raise self.err(f"{what}: must be a number or a string, not {value!r}")
            done[name] = expr
        for name in self.states:
            if name not in done:
                self.initial_numbers[name] = 0.0
            self.initial[name] = done.get(name, self._number(0.0))

    def _number(self, value: float):
        if not self.symbolic:
            return value
        import sympy

        return parser.sympy_number(sympy, value)

    def _initial_text(self, name, value, what, ns, done):
        quantity = self._quantity_of(value, self.dims)
        if quantity is not None:
            internal, dim = quantity
            if not math.isfinite(internal):
                raise self.err(f"{what} = {value!r} is not a finite number")
            if dim != self.dims[name] and internal != 0:
                raise self.err(
                    f"{what} = {value!r} {parser.units_words(dim)} but {name} "
                    f"needs {parser.needs_words(self.dims[name])}",
                    UnitError,
                )
            self.initial_numbers[name] = _as_evaluated(internal)
            return self._number(internal)
        expr = parser.parse_expression_text(value, source=self.source, what=what)
        missing = sorted(
            n for n in self._names_closure(expr.names) if n in self.states and n not in done
        )
        if missing:
            raise self.err(
                f"{what} = {value!r} depends on {', '.join(missing)}, whose "
                "initial value is not given before it"
            )
        result, _ = self._converter(f"in {what} = {value!r}", ns).convert(
            expr, self.dims[name], needs=f"{name} needs"
        )
        if self.symbolic:
            result = result.xreplace({self.symbols[s]: e for s, e in done.items()})
        return result

    # events -----------------------------------------------------------------------------
    def _convert_events(self):
        ns = self._full_ns()
        self.threshold = None
        if self.threshold_expr is not None:
            label = self.origin.label("threshold")
            text = self.args["threshold"]
            self.threshold, _ = self._converter(f"in {label} {text!r}", ns).convert(
                self.threshold_expr, BOOL, needs="a threshold must be"
            )
            used = self._names_closure(self.threshold_expr.names)
            if not used & (set(self.states) | {"t"}):
                raise self.err(f"{label} {text!r} depends on no state; it could never be crossed")
        self.reset = self._convert_reset(ns)
        self._convert_refractory(ns)

    def _convert_reset(self, ns):
        out = []
        if not self.reset_stmts:
            return ()
        label = self.origin.label("reset")
        for r in self.reset_stmts:
            context = f"in {label} {r.text!r}"
            if r.name not in self.states:
                raise ModelError(
                    f"{context}: {self._not_a_state(r.name)}; only states can be reset",
                    line=r.line,
                    source=self.source,
                )
            dim = self.dims[r.name]
            expected = dim if r.op in ("=", "+=", "-=") else units.dimensionless()
            needs = (
                f"{r.name} needs" if r.op in ("=", "+=", "-=") else f"the factor of {r.op} must be"
            )
            value, _ = self._converter(context, ns).convert(r.expr, expected, needs=needs)
            if self.symbolic:
                y = self.symbols[r.name]
                value = {
                    "=": value,
                    "+=": y + value,
                    "-=": y - value,
                    "*=": y * value,
                    "/=": y / value,
                }[r.op]
            out.append((self.states.index(r.name), value))
        return tuple(out)

    def _not_a_state(self, name) -> str:
        kind = (
            "a parameter"
            if name in self.param_dims
            else "an alias"
            if name in self.alias_names
            else None
        )
        if kind:
            return f"{name} is {kind}, not a state (states: {', '.join(self.states)})"
        return (
            f"{name} is not a state of the model{_suggest(name, self.states)} "
            f"(states: {', '.join(self.states)})"
        )

    def _convert_refractory(self, ns):
        ref = self.args["refractory"]
        self.refractory_time = self.refractory_condition = None
        label = self.origin.label("refractory")
        if ref is None:
            return
        if _is_number(ref):
            if not math.isfinite(ref) or ref < 0:
                raise self.err(f"{label} = {ref!r} must be a time >= 0")
            self.refractory_time = self._number(float(ref))
            return
        if self.refractory_quantity is not None:
            internal, dim = self.refractory_quantity
            value = self._number(internal)
        else:
            value, dim = self._converter(f"in {label} {ref!r}", ns).convert(self.refractory_expr)
        if dim == BOOL:
            self.refractory_condition = value
        elif dim == self.T:
            used = (
                self._names_closure(self.refractory_expr.names)
                if self.refractory_expr is not None
                else set()
            )
            states = [s for s in self.states + ["t"] if s in used]
            if states:
                # the duration is fixed when the spike happens: it cannot follow the states
                # or the time (a condition such as "t < t_off" can)
                raise self.err(
                    f"{label} {ref!r}: a refractory time may depend on parameters "
                    f"only, not on {', '.join(states)} (use a condition instead)"
                )
            if isinstance(value, float) and (not math.isfinite(value) or value < 0):
                raise self.err(f"{label} {ref!r} must be a time >= 0")
            self.refractory_time = value
        else:
            kind = "a number" if self.time_dimensionless else 'a time (such as "2 ms")'
            raise UnitError(
                f"{label} {ref!r} {parser.units_words(dim)} but must be {kind}, "
                "a parameter name or a condition",
                source=self.source,
            )

    # presets and checks -----------------------------------------------------------------
    def _check_presets(self):
        for pname, values in self.args["presets"].items():
            what_base = f"preset {pname!r}"
            if not isinstance(values, dict):
                raise self.err(f"{what_base} must be a table of parameter values")
            for k, v in values.items():
                if k == "description":
                    continue
                if k not in self.param_dims:
                    raise self.err(
                        f"{what_base}: {k} is not a parameter{_suggest(k, self.param_dims)}"
                    )
                what = f"{what_base} {k}"
                if isinstance(v, str):
                    internal, dim, _ = _parse_value(v, what, self.source)
                    if dim != self.param_dims[k] and internal != 0:
                        raise self.err(
                            f"{what} = {v!r} {parser.units_words(dim)} but {k} "
                            f"needs {parser.needs_words(self.param_dims[k])}",
                            UnitError,
                        )
                elif not _is_number(v):
                    raise self.err(f"{what}: must be a number or a string with a unit")
                elif not math.isfinite(v):
                    raise self.err(f"{what} = {v!r} is not a finite number")

    def _divisors(self) -> set:
        """Names that appear in a denominator or under a negative power (AST walk)."""
        found = set()

        def names(node):
            return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

        for s in self.statements:
            if s.expr is None:
                continue
            for node in ast.walk(s.expr.tree):
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                    found |= names(node.right)
                elif (
                    isinstance(node, ast.BinOp)
                    and isinstance(node.op, ast.Pow)
                    and isinstance(node.right, ast.UnaryOp)
                    and isinstance(node.right.op, ast.USub)
                ):
                    found |= names(node.left)
        return found

    def _check_time_constants(self):
        """A time parameter that divides (a time constant) must be > 0."""
        if self.time_dimensionless:
            return
        divisors = self._divisors()
        for name, dim in self.param_dims.items():
            if dim == self.T and self.defaults[name] <= 0 and name in divisors:
                raise self.err(
                    f"{self.origin.label('params')} {name} = "
                    f"{_fmt(self.param_display[name])} "
                    f"{self.display[name][0]}: a time constant must be > 0"
                )

    def _events_content(self) -> dict:
        a = self.args
        return {
            "version": SPEC_VERSION,
            "name": a["name"],
            "time_dimensionless": self.time_dimensionless,
            "equations": [s.canonical for s in self.statements],
            "threshold": self.threshold_expr.canonical if self.threshold_expr else None,
            "reset": [r.canonical for r in self.reset_stmts or ()],
            "refractory": (
                self.refractory_expr.canonical
                if self.refractory_expr
                else repr(self.refractory_quantity or a["refractory"])
            ),
        }

    def _structure_key(self) -> str:
        """Hash of what the kernels depend on, from the text: no sympy work needed."""
        content = {**self._events_content(), "params": list(self.param_names)}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def _key(self) -> str:
        """Hash of the whole content (defaults, initial values, presets included)."""
        return _content_key(
            self._events_content(),
            self.param_names,
            self.defaults,
            {n: self.display[n][0] for n in self.param_names},
            self.args["initial"],
            self.args["presets"],
        )

    def manifest(self, built: dict) -> dict:
        """The JSON-ready result of the checking pass (see :mod:`.manifest`)."""
        key = units.dim_key
        texts = [self.display[n][0] for n in self.param_names]
        values = list(self.args["params"].values())
        for p in self.args["presets"].values():
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
        divisors = self._divisors()
        model_units = {}
        for name in self.param_names:
            model_units.setdefault(self.param_dims[name], name)
        follows = {
            n: model_units[self.dims[n]]
            for n in self.states + self.alias_names
            if units.is_base_unit_text(self.decl[n].unit) and self.dims[n] in model_units
        }
        declared = {}
        for name in self.declared_params:
            unit, factor = self._declared_display(self.decl[name])
            declared[name] = [key(units.parse_unit(self.decl[name].unit)[1]), unit, factor]
        return {
            "format": manifest.FORMAT,
            "generator": manifest.generator_version(),
            "name": built["name"],
            "time_dimensionless": self.time_dimensionless,
            "key": built["key"],
            "structure_key": built["_structure_key_value"],
            "states": list(self.states),
            "statements": [s.text for s in self.statements],
            "params": [[n, self.defaults[n], self.param_display[n]] for n in self.param_names],
            "aliases": list(self.alias_names),
            "noises": list(self.noises),
            "display": [[n, u, f] for n, (u, f) in self.display.items()],
            "dims": {n: key(d) for n, d in self.dims.items()},
            "unless_refractory": list(built["_unless_refractory"]),
            "initial": [[s, self.initial_numbers.get(s)] for s in self.states],
            "initial_source": None,
            "declared": declared,
            "follows": follows,
            "time_constants": [
                n
                for n in self.param_names
                if self.param_dims[n] == self.T and n in divisors and not self.time_dimensionless
            ],
            "events_content": self._events_content(),
            "units": table,
        }


# -- KernelSpec -----------------------------------------------------------------------------


def _jacobian(f, ys):
    """``(jac, nonzero)``: ``jac[i][j] = d f_i / d y_j`` as a tuple of tuples, and the
    ``(i, j)`` of the entries that may be nonzero.  Only the states an equation contains
    are differentiated (a model of n coupled states has O(n) nonzero entries, not n**2).
    """
    import sympy

    index = {y: j for j, y in enumerate(ys)}
    zero = sympy.S.Zero
    jac, nonzero = [], []
    for i, fi in enumerate(f):
        row = [zero] * len(ys)
        for j in sorted(index[y] for y in fi.free_symbols if y in index):
            row[j] = sympy.diff(fi, ys[j])
            if row[j] != 0:
                nonzero.append((i, j))
        jac.append(tuple(row))
    return tuple(jac), nonzero


def _linear_in(expr, y):
    """(A, B) with expr = A*y + B and A, B free of y and printable, or None (then the
    equation is not split: exponential Euler refuses it).
    """
    import sympy
    from mpmath.libmp import NoConvergence  # (sympy's dependency)

    try:
        a = sympy.diff(expr, y)
        if a.has(y):
            return None
        try:  # a Python 0 would make ``dv/dt = v`` give int 0
            b = expr.xreplace({y: sympy.S.Zero})
        except (TypeError, ValueError):  # a relation that becomes nan < -oo at y = 0
            b = sympy.nan
        if b.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            b = sympy.expand(expr - a * y)
            if b.has(y):
                return None
    except (TypeError, ValueError, ArithmeticError, RecursionError, NoConvergence):
        return None  # sympy cannot split it (overflow, recursion): not linear
    if any(e.has(sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.I) for e in (a, b)):
        return None
    return a, b


def _crossing(threshold):
    import sympy

    if isinstance(threshold, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        return threshold.lhs - threshold.rhs
    if isinstance(threshold, (sympy.StrictLessThan, sympy.LessThan)):
        return threshold.rhs - threshold.lhs
    return None


def _safe_boolean(cond, safe):
    """Apply ``safe`` to the sides of the relations in a condition."""
    import sympy

    if isinstance(cond, sympy.core.relational.Relational):
        return cond.func(safe(cond.lhs), safe(cond.rhs), evaluate=False)
    if isinstance(cond, (sympy.And, sympy.Or, sympy.Not)):
        return cond.func(*[_safe_boolean(c, safe) for c in cond.args])
    return cond


def build_kernel_spec(model: Model):
    """Lower a Model to a :class:`~biosnn.codegen.spec.KernelSpec` (see its docstring)."""
    import sympy
    from mpmath.libmp import NoConvergence  # (sympy's dependency)

    from biosnn.codegen.functions import as_biosnn
    from biosnn.codegen.rewrite import make_numerically_safe
    from biosnn.codegen.spec import KernelSpec

    def safe(e):
        return as_biosnn(make_numerically_safe(e))

    sym = model._symbols
    t = sym["t"]
    ys = [sym[s] for s in model._states]
    f = tuple(safe(model._rhs[s]) for s in model._states)
    g = (
        tuple(tuple(safe(c) for c in model._noise[s]) for s in model._states)
        if model._noises
        else ()
    )
    try:
        jac, nonzero = _jacobian(f, ys)
        dfdt = tuple(sympy.diff(fi, t) for fi in f)
    except (TypeError, ValueError, ArithmeticError, RecursionError, NoConvergence) as exc:
        # sympy: "Invalid NaN comparison"; mpmath: no convergence of a numeric comparison
        raise ModelError(
            f"model {model.name}: the derivatives of its right-hand sides cannot "
            f"be computed ({exc})",
            source=model._origin_source,
        ) from None
    threshold = crossing = None
    if model._threshold is not None:
        threshold = _safe_boolean(model._threshold, safe)
        crossing = _crossing(threshold)
    reset = tuple((i, safe(e)) for i, e in model._reset)
    refractory_time = safe(model._refractory_time) if model._refractory_time is not None else None
    refractory_condition = (
        _safe_boolean(model._refractory_condition, safe)
        if model._refractory_condition is not None
        else None
    )
    aliases = tuple((n, safe(e)) for n, e in model._aliases.items())
    exp_euler = tuple(_linear_in(fi, y) for fi, y in zip(f, ys))
    linear = None
    variables = set(ys) | {t}
    if not any(jac[i][j].free_symbols & variables for i, j in nonzero):
        zeros = {y: sympy.S.Zero for y in ys}
        try:
            b = tuple(sympy.sympify(fi.xreplace(zeros)) for fi in f)
        except (TypeError, ValueError):  # a relation that becomes nan < -oo at y = 0
            b = (sympy.nan,)
        if not any(bi.has(t, sympy.nan, sympy.zoo, sympy.AccumBounds, sympy.I) for bi in b):
            linear = (jac, b)
    nonzero_rows = [[] for _ in f]
    for i, j in nonzero:
        nonzero_rows[i].append(jac[i][j])
    _check_printable(
        model,
        f,
        g,
        nonzero_rows,
        dfdt,
        threshold,
        reset,
        refractory_time,
        refractory_condition,
        aliases,
    )
    fields = dict(
        name=model.name,
        states=tuple(model._states),
        params=tuple(model._params),
        noises=tuple(model._noises),
        t=t,
        f=f,
        g=g,
        jac=jac,
        dfdt=dfdt,
        threshold=threshold,
        crossing=crossing,
        reset=reset,
        refractory_time=refractory_time,
        refractory_condition=refractory_condition,
        unless_refractory=tuple(model._unless_refractory),
        aliases=aliases,
        exp_euler=exp_euler,
        linear=linear,
        time_dimensionless=model.time_dimensionless,
    )
    return KernelSpec(key=_spec_key(fields, nonzero), **fields)


def _check_printable(
    model, f, g, jac_rows, dfdt, threshold, reset, refractory_time, refractory_condition, aliases
) -> None:
    """Every expression a backend prints is finite and real somewhere (a ModelError
    naming the equation otherwise; the parser catches almost all such terms first).
    ``jac_rows[i]``: the nonzero entries of row i of the Jacobian.
    """
    states = model._states
    lines = {s.name: s for s in model._statements}
    groups = []
    for i, name in enumerate(states):
        groups.append((name, "", [f[i], *(g[i] if g else ())]))
        groups.append((name, "in its derivatives (the Jacobian)", [*jac_rows[i], dfdt[i]]))
    groups += [(n, "", [e]) for n, e in aliases]
    for name, how, exprs in groups:
        stmt = lines.get(name)
        _check_finite(
            exprs,
            f"in {stmt.text!r}" if stmt else name,
            how.strip(),
            line=stmt.line if stmt else None,
            source=model._origin_source,
        )
    events = [
        ("threshold", [threshold]),
        ("reset", [e for _, e in reset]),
        ("refractory", [refractory_time, refractory_condition]),
    ]
    for label, exprs in events:
        origin = model._args["_origin"] or Origin()
        _check_finite(
            exprs,
            f"in {origin.label(label)} {model._args[label]!r}",
            "",
            source=model._origin_source,
        )


def _numeric_source_of(spec) -> str:
    """Generated source of ``linear_Ab`` and ``threshold`` (see KernelLayout), or ""."""
    from biosnn.codegen.numeric_source import numeric_source

    functions = {}
    if spec.linear is not None:
        A, b = spec.linear
        functions["linear_Ab"] = [a for row in A for a in row] + list(b)
    if spec.threshold is not None:
        functions["threshold"] = [spec.threshold]
    try:
        return numeric_source(functions) if functions else ""
    except (ValueError, TypeError):
        return ""


def _spec_key(fields: dict, nonzero) -> str:
    import sympy

    def rep(value):
        if isinstance(value, sympy.Basic):
            return sympy.srepr(value)
        if isinstance(value, (tuple, list)):
            return [rep(v) for v in value]
        return repr(value)

    # the Jacobian by its nonzero entries ``nonzero`` (list of (i, j)): the n**2 zeros of a
    # large model would cost seconds
    jac = [[i, j, fields["jac"][i][j]] for i, j in nonzero]
    sparse = dict(fields, jac=jac)
    if fields["linear"] is not None:  # (A, b), A is the Jacobian again
        sparse["linear"] = [jac, fields["linear"][1]]
    text = json.dumps({k: rep(v) for k, v in sorted(sparse.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
