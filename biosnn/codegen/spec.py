"""The lowered form of a Model that every backend prints: :class:`KernelSpec`.

A :class:`~biosnn.equations.model.Model` carries equations with units, aliases, presets and
display units.  Code generation needs less and needs it flatter: the right-hand side of each
state in the internal unit system (ms, mV, pA, um, ...; see :mod:`biosnn.units`), aliases
already substituted, with the numerically safe rewrites of :mod:`biosnn.codegen.rewrite`
applied.  ``Model.kernel_spec()`` builds this once; the NumPy printer, the C printer and the
solver drivers read nothing else.

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

from dataclasses import dataclass, field
from typing import Optional

__all__ = ["KernelSpec"]


@dataclass(frozen=True, eq=False)
class KernelSpec:
    """Everything a backend needs to generate and drive a kernel for one model.

    Attributes
    ----------
    name : str
        Model name (used in generated identifiers after sanitising).
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
    threshold: Optional[object] = None
    crossing: Optional[object] = None
    reset: tuple = ()
    refractory_time: Optional[object] = None
    refractory_condition: Optional[object] = None
    unless_refractory: tuple = ()
    aliases: tuple = ()
    exp_euler: tuple = ()
    linear: Optional[tuple] = None
    time_dimensionless: bool = False
    extra: dict = field(default_factory=dict)

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

    def __hash__(self) -> int:  # identity of content, not of the object
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, KernelSpec) and other.key == self.key
