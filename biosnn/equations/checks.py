"""The checking pass of a Model: syntax, names, units, events, presets; no sympy.

:class:`Builder` turns the constructor arguments of a :class:`~biosnn.equations.model.Model`
into its fields.  Every error a model can have is raised by :meth:`Builder.build`, which
walks the parsed equations with :class:`~biosnn.equations.parser.Converter` in checking
mode (values are floats or ``UNKNOWN``, dimensions are checked); the same code in
symbolic mode builds the sympy form later (:mod:`biosnn.equations.symbolic`).  The keys of
a model (:attr:`Model.key`, :attr:`Model.structure_key`) are computed here from the text,
and the JSON-ready result of the pass is :func:`biosnn.equations.manifest.model_record`.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass

from biosnn import units
from biosnn.equations import manifest, parser
from biosnn.equations.parser import BOOL, Converter, is_number
from biosnn.equations.symbolic import SymbolicBuild
from biosnn.errors import ModelError, UnitError
from biosnn.names import check_identifier

__all__ = ["Builder", "Origin", "parse_value", "suggest", "check_names"]


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


def suggest(name, known) -> str:
    """`` (did you mean x or y?)`` for the close matches of ``name`` in ``known``, or ""."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def check_names(name, presets, origin) -> None:
    """The model's name and its preset names are identifiers (:mod:`biosnn.names`)."""
    source = origin.source if origin is not None else None
    line = origin.line if origin is not None else (lambda key: None)
    check_identifier(name, "the model name", source=source, line=line("name"))
    for key in presets or {}:
        check_identifier(key, "the preset name", source=source, line=line(f"presets.{key}"))


def _as_evaluated(value: float) -> float:
    """``float(parser.sympy_number(sympy, value))`` without sympy: what :func:`~biosnn.codegen.numeric_source.evaluate` gives
    for an initial value that is a number (integral values become sympy Integers).
    """
    if value == int(value) and abs(value) < 1e15:
        return float(int(value))
    return value


def _unit_suffix(unit: str) -> str:
    return "" if unit == "1" else f" {unit}"


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _fmt(value: float) -> str:
    return f"{value:.6g}"


# -- values ---------------------------------------------------------------------------------


def parse_value(text: str, what: str, source=None):
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


# -- the checking pass ----------------------------------------------------------------------------


class Builder(SymbolicBuild):
    """Turns the constructor arguments into the fields of a Model (all checks here).

    :meth:`build` is the checking pass (no sympy); :meth:`build_symbolic` (from
    :class:`~biosnn.equations.symbolic.SymbolicBuild`) runs the same conversions with sympy.
    """

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
        out["key"] = manifest.model_key(self)
        out["_structure_key_value"] = manifest.structure_key(self)
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
        elif ref is not None and not is_number(ref):
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
            internal, dim, unit = parse_value(value, what, self.source)
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
        elif is_number(value):
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
            if is_number(value):
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
            f"{name} is not a state of the model{suggest(name, self.states)} "
            f"(states: {', '.join(self.states)})"
        )

    def _convert_refractory(self, ns):
        ref = self.args["refractory"]
        self.refractory_time = self.refractory_condition = None
        label = self.origin.label("refractory")
        if ref is None:
            return
        if is_number(ref):
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
                        f"{what_base}: {k} is not a parameter{suggest(k, self.param_dims)}"
                    )
                what = f"{what_base} {k}"
                if isinstance(v, str):
                    internal, dim, _ = parse_value(v, what, self.source)
                    if dim != self.param_dims[k] and internal != 0:
                        raise self.err(
                            f"{what} = {v!r} {parser.units_words(dim)} but {k} "
                            f"needs {parser.needs_words(self.param_dims[k])}",
                            UnitError,
                        )
                elif not is_number(v):
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
