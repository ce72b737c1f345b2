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
  :meth:`Model.symbolic`, initial values ...) on first use, once.

The package is split along these seams: this module is the value object;
:mod:`~biosnn.equations.checks` the checking pass; :mod:`~biosnn.equations.symbolic` the
symbolic build; :mod:`~biosnn.equations.manifest` the warm start (keys, stored manifests).
Lowering a Model to a kernel is the next stage, :mod:`biosnn.codegen.lower`
(:meth:`Model.kernel_spec` is a convenience that calls it).

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

import types

from biosnn import units
from biosnn.equations import manifest, parser
from biosnn.equations.checks import Builder, Origin, check_names, parse_value, suggest
from biosnn.equations.manifest import SPEC_VERSION
from biosnn.equations.parser import is_number
from biosnn.equations.symbolic import SymbolicModel
from biosnn.errors import ModelError, UnitError

__all__ = ["Model", "Origin", "SPEC_VERSION"]


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
        check_names(name, presets, _origin)
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
            (lambda: manifest.read("model", disk_key) if disk_key is not None else None, disk_key),
            (
                lambda: (
                    manifest.derived(_parent._manifest, _parent._args, args)
                    if _parent is not None
                    else None
                ),
                "parent",
            ),
        ):
            data = find()
            fields = manifest.model_fields(data, args) if data is not None else None
            if fields is not None:
                disk_key = _parent._disk_key if where == "parent" else where
                break
        if fields is None:
            builder = Builder(args)
            built = builder.build()
            data = manifest.model_record(builder, built)
            fields = manifest.model_fields(data, args)
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
    def _builder(self) -> Builder:
        if "builder" not in self._cache:
            builder = Builder(self._args)
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

    def symbolic(self) -> SymbolicModel:
        """The sympy form of this model (built once, on first use): the input of the
        lowering stage (:func:`biosnn.codegen.lower.lower`).  See
        :class:`~biosnn.equations.symbolic.SymbolicModel`.
        """
        if "symbolic" not in self._cache:
            self._cache["symbolic"] = self._builder.build_symbolic()
        return self._cache["symbolic"]

    _rhs = property(lambda self: self.symbolic().rhs)
    _raw = property(lambda self: self.symbolic().raw)
    _aliases = property(lambda self: self.symbolic().aliases)
    _noise = property(lambda self: self.symbolic().noise)
    _symbols = property(lambda self: self.symbolic().symbols)
    _initial = property(lambda self: self.symbolic().initial)
    _threshold = property(lambda self: self.symbolic().threshold)
    _reset = property(lambda self: self.symbolic().reset)
    _refractory_time = property(lambda self: self.symbolic().refractory_time)
    _refractory_condition = property(lambda self: self.symbolic().refractory_condition)

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
    def arguments(self) -> dict:
        """The constructor arguments (a new dict; ``params``, ``init`` and ``presets``
        copied): ``Model(**m.arguments)`` is ``m`` without its file origin.
        """
        args = {k: v for k, v in self._args.items() if k not in ("_origin", "initial")}
        args["params"] = dict(args["params"])
        args["init"] = dict(self._args["initial"])  # stored as "initial": cache keys
        args["presets"] = {k: dict(v) for k, v in args["presets"].items()}
        return args

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

        self.check_param(name)
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
        quick = manifest.quick_quantity(text, self._manifest["units"])
        if quick is not None and quick[1] == self._manifest["dims"][name]:
            return quick[0]  # a unit this model's manifest knows: no pint needed
        value, dim, _ = parse_value(text, what, self._origin_source)
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
            self.check_param(key)
            values[key] = value
        values["t"] = t0
        function = self._initial_function()
        if function is None:
            from biosnn.codegen.numeric_source import evaluate

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
            raise ModelError(f"{name} is not a variable of model {self.name}{suggest(name, known)}")

    def check_param(self, name: str) -> None:
        """Raise a ModelError (with the close matches and the list) unless ``name`` is a
        parameter of this model.
        """
        if name not in self._params:
            raise ModelError(
                f"{name} is not a parameter of model {self.name}"
                f"{suggest(name, self._params)}; parameters: "
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
            self.check_param(name)
            new[name] = self._override(name, value, f"with_params({name}=...)")
        args = dict(self._args, params=new)
        origin = args.pop("_origin", None)
        args["init"] = args.pop("initial")
        return Model(**args, _origin=origin, _parent=self)

    def _override(self, name, value, what):
        """A parameter value as a string in the parameter's display unit."""
        if isinstance(value, str):
            internal = self._quantity(name, value, what)
        elif is_number(value) or (hasattr(value, "ndim") and value.ndim == 0):
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
                f"{suggest(name, presets)}; presets: "
                f"{', '.join(presets) or 'none'}"
            )
        values = {k: v for k, v in presets[name].items() if k != "description"}
        return self.with_params(**values)

    # lowering (biosnn.codegen.lower) ---------------------------------------------------
    def kernel_spec(self):
        """The :class:`~biosnn.codegen.spec.KernelSpec` of this model (cached; sympy).

        A convenience for :func:`biosnn.codegen.lower.lower` (``lower(model)``), which
        builds it; the one import of a layer above (docs/architecture.md, "Layers").
        """
        if "spec" not in self._cache:
            from biosnn.codegen.lower import lower

            self._cache["spec"] = lower(self)
        return self._cache["spec"]

    @property
    def layout(self):
        """The :class:`~biosnn.codegen.spec.KernelLayout` of this model: names, flags and
        generated numeric source, without sympy after a warm start.

        What ``simulate`` and the backends use to run a cached kernel; read from the
        cache directory by :meth:`layout_key` (see docs/architecture.md, "Warm start"),
        else built from :meth:`kernel_spec` and stored (:func:`biosnn.codegen.lower.layout`).
        Its ``full_spec()`` is :meth:`kernel_spec`.

        Examples
        --------
        >>> from biosnn import Model
        >>> m = Model("dv/dt = -v/tau : volt", params={"tau": "10 ms"})
        >>> m.layout.states, m.layout.key == m.kernel_spec().key
        (('v',), True)
        """
        if "layout" not in self._cache:
            from biosnn.codegen.lower import layout

            self._cache["layout"] = layout(self)
        return self._cache["layout"]

    def layout_key(self) -> str:
        """The cache key of this model's KernelLayout: its :attr:`structure_key` and the
        dimensions of its parameters (:func:`biosnn.equations.manifest.layout_key`).
        """
        dims = self._manifest["dims"]
        return manifest.layout_key(
            self.structure_key, [dims[n] for n, _, _ in self._manifest["params"]]
        )

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


def _unit_suffix(unit: str) -> str:
    return "" if unit == "1" else f" {unit}"


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _rebuild(args, data=None):
    args = dict(args)
    origin = args.pop("_origin", None)
    args["init"] = args.pop("initial")
    return Model(**args, _origin=origin, _manifest=data)
