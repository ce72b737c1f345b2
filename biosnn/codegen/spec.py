"""The lowered form of a Model that every backend prints: :class:`KernelSpec`.

A :class:`~biosnn.equations.model.Model` carries equations with units, aliases, presets and
display units.  Code generation needs less and needs it flatter: the right-hand side of each
state in the internal unit system (ms, mV, pA, um, ...; see :mod:`biosnn.units`), aliases
already substituted, with the numerically safe rewrites of :mod:`biosnn.codegen.rewrite`
applied.  :func:`biosnn.codegen.lower.lower` builds it (``Model.kernel_spec()`` calls it
once per model); the NumPy printer, the C printer and the solver drivers read nothing else.

Two classes share one interface, :class:`Kernel`: :class:`KernelSpec` (the full lowered
model, sympy expressions) and :class:`KernelLayout` (its names, flags and generated numeric
source, without sympy: the warm start).  Code that runs a kernel takes either and uses only
:class:`Kernel`'s attributes; code that prints one asks ``kernel.full_spec()``.

Conventions
-----------
* Every symbol is ``sympy.Symbol(name, real=True)``; printers map symbols to storage by
  ``symbol.name``.  ``t`` is time (internal units), the only symbol that is neither a
  state nor a parameter.
* States are stored as ``y[i]`` in the order of ``states``, parameters as ``p[k]`` in the
  order of ``params``.  Per-instance storage is the backend's business.
* ``f[i]`` is the drift of state ``i``; ``g[i][k]`` the coefficient of the white noise
  ``noises[k]`` in state ``i`` (Ito form: ``dy_i = f_i dt + sum_k g[i][k] dW_k``, ``dW_k ~
  N(0, dt)``).  ``g`` is empty when the model has no noise.
* Expressions contain only: numbers, the symbols above, + - * / **, exp, log, sqrt, sin,
  cos, tan, sinh, cosh, tanh, Abs, sign, floor, ceiling, Min, Max, Piecewise (conditions:
  relationals, And, Or, Not), ``sympy.codegen.cfunctions.expm1`` / ``log1p`` and the
  functions defined in :mod:`biosnn.codegen.functions`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

__all__ = ["Kernel", "KernelSpec", "KernelLayout", "SYMBOLIC"]


class Kernel(abc.ABC):
    """What :class:`KernelSpec` and :class:`KernelLayout` both are: the names and flags of
    a lowered model, and the way to its full symbolic form.

    Attributes both define (fields of the two dataclasses)
    ------------------------------------------------------
    name, key : str
    states, params, noises : tuple of str
    time_dimensionless : bool
    unless_refractory : tuple of bool
    threshold, crossing, refractory_time, refractory_condition, linear
        An expression (KernelSpec) or :data:`SYMBOLIC` (KernelLayout), or None: test them
        with ``is not None``.
    reset : tuple of (int, expression)
    exp_euler : tuple of (pair or None)
    aliases : tuple of (str, expression)
    alias_names : tuple of str
    crossing_affine : tuple of int or None

    Methods and properties here: the counts, :meth:`full_spec`,
    :meth:`numeric`, :attr:`numpy_source` and :meth:`remember_numpy_source`.  Anything
    else (``f``, ``jac``, ``t`` ...) is only on a KernelSpec: ask ``full_spec()`` for it.
    """

    __slots__ = ()

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def n_noises(self) -> int:
        return len(self.noises)

    @property
    def has_events(self) -> bool:
        return self.threshold is not None

    @abc.abstractmethod
    def full_spec(self) -> KernelSpec:
        """The full :class:`KernelSpec` (a KernelLayout builds the sympy side of its model)."""

    def numeric(self, name: str):
        """The compiled generated function ``name`` (``linear_Ab``, ``threshold``; see
        :class:`KernelLayout`), or None when there is none: then evaluate the expressions
        of :meth:`full_spec` with :func:`biosnn.codegen.numeric_source.evaluate` (the
        same bits).
        """
        return None

    @property
    def numpy_source(self) -> str | None:
        """The stored source of the NumPy kernel, or None (then it is printed)."""
        return None

    def remember_numpy_source(self, source: str) -> None:  # noqa: B027 (a real default)
        """Keep the NumPy kernel's source for the next process (if this kernel is cached).

        A KernelSpec keeps nothing (it prints its source again); a KernelLayout, read from
        the warm-start cache, stores it there.
        """

    def __hash__(self) -> int:  # identity of content, not of the object
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Kernel) and other.key == self.key


@dataclass(frozen=True, eq=False)
class KernelSpec(Kernel):
    """Everything a backend needs to generate and drive a kernel for one model.

    Attributes
    ----------
    name : str
        Model name (generated source shows it only as :func:`biosnn.names.source_token`).
    key : str
        Hex digest of the model's canonical content.  Two specs with the same key print the
        same code; kernel caches use it (together with backend options) as their key.
    states, params, noises : tuple of str
        Ordered names.  ``noises`` are the white-noise symbols (``xi``, ``xi_1``, ...).
    t : sympy.Symbol
        The time symbol.
    f : tuple of sympy.Expr, length n_states
        Drift of each state.
    g : tuple of tuple of sympy.Expr, shape (n_states, n_noises)
        Noise coefficients (empty tuple if ``noises`` is empty).
    jac : tuple of tuple of sympy.Expr, shape (n_states, n_states)
        ``jac[i][j] = d f_i / d y_j`` (exact, symbolic).
    dfdt : tuple of sympy.Expr
        ``d f_i / d t`` (zero for autonomous models); Rosenbrock methods need it.
    threshold : sympy boolean or None
        Spike condition.  A spike is an *upward crossing*: the condition is false at the
        start of a step and true at its end.
    crossing : sympy.Expr or None
        For a threshold that is a single relation (``a > b``, ``a >= b``, ``b < a`` ...):
        ``h = a - b``, so the spike time is the upward zero crossing of ``h``, located on
        the step's interpolant.  None for compound conditions (then the boolean is bisected).
    reset : tuple of (int, sympy.Expr)
        Assignments ``y[i] = expr`` executed in order at the spike time; later expressions
        see the values assigned earlier (``v = c; u = u + d``).
    refractory_time : sympy.Expr or None
        Refractory period (internal time) as an expression of parameters (a number or a
        parameter symbol, so it can differ per instance), or None.
    refractory_condition : sympy boolean or None
        Alternative to ``refractory_time``: after a spike the instance stays refractory
        while this condition holds.
    unless_refractory : tuple of bool
        Per state: held constant (drift and noise zero) while refractory.
    aliases : tuple of (str, sympy.Expr)
        Subexpressions, fully substituted (functions of states, params and ``t``), for
        recording and plotting.
    exp_euler : tuple of ((A_i, B_i) or None)
        For exponential Euler: ``f_i = A_i*y_i + B_i`` with ``A_i``, ``B_i`` free of
        ``y_i``; None when the equation is not conditionally linear in its own state.
    linear : (A, b) or None
        For exact integration: ``f = A y + b`` with ``A`` (n x n) and ``b`` (n) free of the
        states and of ``t`` (they may depend on parameters); None if not linear.
    time_dimensionless : bool
        True for models whose time has no unit (FitzHugh-Nagumo, Hindmarsh-Rose).
    """

    name: str
    key: str
    states: tuple
    params: tuple
    noises: tuple
    t: object
    f: tuple
    g: tuple
    jac: tuple
    dfdt: tuple
    threshold: object | None = None
    crossing: object | None = None
    reset: tuple = ()
    refractory_time: object | None = None
    refractory_condition: object | None = None
    unless_refractory: tuple = ()
    aliases: tuple = ()
    exp_euler: tuple = ()
    linear: tuple | None = None
    time_dimensionless: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def crossing_affine(self) -> tuple | None:
        """Whether ``crossing`` is affine in the states, for exact event location.

        ``crossing = sum_i c_i*y_i + d`` with ``c_i`` and ``d`` free of the states and of
        ``t`` (they may depend on parameters): then along a step's polynomial dense
        output the crossing function is itself a polynomial, and the drivers find every
        excursion above the threshold by isolating its roots (:mod:`biosnn.solvers.events`).
        Returns the indices of the parameters the crossing depends on (a linear stimulus
        on one of them makes it time-dependent inside a step), or None when it is not
        affine (or there is no crossing).
        """
        cr = self.crossing
        if cr is None:
            return None
        import sympy

        states = [sympy.Symbol(n, real=True) for n in self.states]
        if cr.has(self.t):
            return None
        for y in states:
            if sympy.diff(cr, y).has(*states):
                return None
        names = {s.name for s in cr.free_symbols}
        return tuple(k for k, n in enumerate(self.params) if n in names)

    @property
    def alias_names(self) -> tuple:
        """Alias names, in the order of :attr:`aliases`."""
        return tuple(n for n, _ in self.aliases)

    def full_spec(self) -> KernelSpec:
        """Return this KernelSpec itself."""
        return self

    __hash__ = Kernel.__hash__
    __eq__ = Kernel.__eq__


class _Symbolic:
    """Stands in a :class:`KernelLayout` for a sympy expression that it does not carry."""

    def __repr__(self) -> str:
        return "SYMBOLIC"

    def __reduce__(self):
        return "SYMBOLIC"


#: The placeholder of a present expression in a :class:`KernelLayout` (``is not None``).
SYMBOLIC = _Symbolic()

#: KernelSpec fields that a KernelLayout answers itself (the others: ``full_spec()``).
LAYOUT_FIELDS = (
    "name",
    "key",
    "states",
    "params",
    "noises",
    "time_dimensionless",
    "unless_refractory",
    "alias_names",
    "threshold",
    "crossing",
    "reset",
    "refractory_time",
    "refractory_condition",
    "exp_euler",
    "linear",
    "numeric_source",
    "numpy_source",
    "crossing_affine",
)


@dataclass(frozen=True, eq=False)
class KernelLayout(Kernel):
    """A :class:`KernelSpec` without sympy: names, flags and generated numeric source.

    ``Model.layout`` returns one, read from the cache directory on a warm start (see
    docs/architecture.md, "Warm start"), so that ``simulate`` and the backends can run a
    cached kernel without importing sympy.  It has the attributes of :class:`Kernel`:

    * names and flags are its own: ``name``, ``key`` (the KernelSpec's key), ``states``,
      ``params``, ``noises``, ``time_dimensionless``, ``unless_refractory``;
    * the expressions ``threshold``, ``crossing``, ``refractory_time``,
      ``refractory_condition`` and ``linear`` are :data:`SYMBOLIC` when the KernelSpec has
      one and None otherwise; ``reset`` is ``((i, SYMBOLIC), ...)``, ``exp_euler`` holds
      ``(SYMBOLIC, SYMBOLIC)`` or None per state, ``aliases`` ``((name, SYMBOLIC), ...)``
      - so tests such as ``spec.threshold is not None`` answer alike;
    * ``crossing_affine`` (the parameter indices of an affine crossing, or None) is
      stored, as computed by :attr:`KernelSpec.crossing_affine`;
    * the symbolic attributes (``f``, ``jac``, ``t`` ...) are not here: ``full_spec()``
      builds the full KernelSpec (sympy) from the model (``full``, the model's bound
      ``kernel_spec``).

    ``numeric_source`` defines ``linear_Ab(values)`` (the entries of A row by row, then b)
    and ``threshold(values)`` printed by :mod:`biosnn.codegen.numeric_source`; ``numpy_source``
    is the NumPy kernel's source (:class:`~biosnn.codegen.numpy_backend.NumpyKernel`), or
    None until a NumPy kernel was first printed.
    """

    name: str
    key: str
    states: tuple
    params: tuple
    noises: tuple
    time_dimensionless: bool
    unless_refractory: tuple
    alias_names: tuple
    threshold: object | None
    crossing: object | None
    reset: tuple
    refractory_time: object | None
    refractory_condition: object | None
    exp_euler: tuple
    linear: object | None
    numeric_source: str = field(default="", repr=False)
    numpy_source: str | None = field(default=None, repr=False)
    crossing_affine: tuple | None = None
    full: object = field(default=None, repr=False)
    store: object = field(default=None, repr=False)
    _compiled: dict = field(default_factory=dict, repr=False)

    __hash__ = Kernel.__hash__
    __eq__ = Kernel.__eq__

    @property
    def aliases(self) -> tuple:
        return tuple((n, SYMBOLIC) for n in self.alias_names)

    def __getstate__(self) -> dict:
        # pickled without the compiled functions (rebuilt from numeric_source on use);
        # ``full`` (a Model's bound kernel_spec) and ``store`` (a partial) pickle as such
        state = dict(self.__dict__)
        state["_compiled"] = {}
        return state

    def full_spec(self) -> KernelSpec:
        """The full :class:`KernelSpec` (builds the sympy side of the model)."""
        if self.full is None:
            raise ValueError(f"this layout of {self.name!r} has no model to build from")
        return self.full()

    def numeric(self, name: str):
        """The compiled function ``name`` of ``numeric_source`` (``linear_Ab``,
        ``threshold``), or None when the source has none.
        """
        if "numeric" not in self._compiled:
            from biosnn.codegen.numeric_source import compile_numeric

            self._compiled["numeric"] = (
                compile_numeric(
                    self.numeric_source, f"<biosnn-numeric {self.name} {self.key[:12]}>"
                )
                if self.numeric_source
                else {}
            )
        return self._compiled["numeric"].get(name)

    def remember_numpy_source(self, source: str) -> None:
        """Keep the NumPy kernel's source (and store it in the cache, if any)."""
        object.__setattr__(self, "numpy_source", source)
        if self.store is not None:
            self.store({"numpy_source": source})

    def to_dict(self) -> dict:
        """JSON-ready fields (flags as booleans)."""
        present = lambda x: x is not None  # noqa: E731
        return dict(
            name=self.name,
            key=self.key,
            states=list(self.states),
            params=list(self.params),
            noises=list(self.noises),
            time_dimensionless=bool(self.time_dimensionless),
            unless_refractory=[bool(x) for x in self.unless_refractory],
            alias_names=list(self.alias_names),
            threshold=present(self.threshold),
            crossing=present(self.crossing),
            reset=[int(i) for i, _ in self.reset],
            refractory_time=present(self.refractory_time),
            refractory_condition=present(self.refractory_condition),
            exp_euler=[present(p) for p in self.exp_euler],
            linear=present(self.linear),
            numeric_source=self.numeric_source,
            numpy_source=self.numpy_source,
            crossing_affine=None
            if self.crossing_affine is None
            else [int(k) for k in self.crossing_affine],
        )

    @classmethod
    def from_dict(cls, d: dict, full=None, store=None) -> KernelLayout:
        """Inverse of :meth:`to_dict`; raises KeyError/TypeError/ValueError on bad data."""
        flag = lambda x: SYMBOLIC if _bool(x) else None  # noqa: E731
        names = lambda x: tuple(_variable(v) for v in x)  # noqa: E731
        numpy_source = d["numpy_source"]
        return cls(
            name=_str(d["name"]),
            key=_str(d["key"]),
            states=names(d["states"]),
            params=names(d["params"]),
            noises=names(d["noises"]),
            time_dimensionless=_bool(d["time_dimensionless"]),
            unless_refractory=tuple(_bool(x) for x in d["unless_refractory"]),
            alias_names=names(d["alias_names"]),
            threshold=flag(d["threshold"]),
            crossing=flag(d["crossing"]),
            reset=tuple((_int(i), SYMBOLIC) for i in d["reset"]),
            refractory_time=flag(d["refractory_time"]),
            refractory_condition=flag(d["refractory_condition"]),
            exp_euler=tuple((SYMBOLIC, SYMBOLIC) if _bool(x) else None for x in d["exp_euler"]),
            linear=flag(d["linear"]),
            numeric_source=_str(d["numeric_source"]),
            numpy_source=None if numpy_source is None else _str(numpy_source),
            crossing_affine=None
            if d["crossing_affine"] is None
            else tuple(_int(k) for k in d["crossing_affine"]),
            full=full,
            store=store,
        )

    @classmethod
    def of(cls, spec: KernelSpec, numeric_source: str = "", full=None, store=None) -> KernelLayout:
        """The layout of a full KernelSpec."""
        some = lambda x: SYMBOLIC if x is not None else None  # noqa: E731
        return cls(
            name=spec.name,
            key=spec.key,
            states=tuple(spec.states),
            params=tuple(spec.params),
            noises=tuple(spec.noises),
            time_dimensionless=bool(spec.time_dimensionless),
            unless_refractory=tuple(bool(x) for x in spec.unless_refractory)
            or (False,) * len(spec.states),
            alias_names=tuple(n for n, _ in spec.aliases),
            threshold=some(spec.threshold),
            crossing=some(spec.crossing),
            reset=tuple((int(i), SYMBOLIC) for i, _ in spec.reset),
            refractory_time=some(spec.refractory_time),
            refractory_condition=some(spec.refractory_condition),
            exp_euler=tuple(
                (SYMBOLIC, SYMBOLIC) if p is not None else None
                for p in (spec.exp_euler or (None,) * len(spec.states))
            ),
            linear=some(spec.linear),
            numeric_source=numeric_source,
            crossing_affine=spec.crossing_affine,
            full=full,
            store=store,
        )


def _str(x) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {x!r}")
    return x


def _variable(x) -> str:
    """A variable name read back from the cache: printed as an identifier, so it must be
    one (:func:`biosnn.names.is_variable`).
    """
    from biosnn.names import is_variable

    if not is_variable(x):
        raise ValueError(f"expected a variable name, got {x!r}")
    return x


def _bool(x) -> bool:
    if not isinstance(x, bool):
        raise TypeError(f"expected a boolean, got {x!r}")
    return x


def _int(x) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"expected an integer, got {x!r}")
    return x
