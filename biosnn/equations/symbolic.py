"""The symbolic build of a Model: sympy expressions, after every check has passed.

A :class:`~biosnn.equations.model.Model` is checked without sympy
(:mod:`biosnn.equations.checks`); its sympy form is built on first use, by the same
conversion code in symbolic mode (:class:`SymbolicBuild`, a part of the checking pass's
builder), and handed on as one value, :class:`SymbolicModel`: what the lowering stage
(:mod:`biosnn.codegen.lower`) and the analysis tools read.

Substituting aliases can make terms that no code can compute (``a = v - v``, ``dv/dt =
1/a``) or numbers beyond a double (``sinh(1e288)``); :func:`check_finite` and
:func:`xreplace_checked` refuse them with a ModelError naming the equation.
"""

from __future__ import annotations

from dataclasses import dataclass

from biosnn.equations import parser
from biosnn.errors import ModelError

__all__ = ["SymbolicModel", "SymbolicBuild", "Overflow", "xreplace_checked", "check_finite"]


@dataclass(frozen=True, eq=False)
class SymbolicModel:
    """The sympy form of a Model (internal units), the input of lowering.

    Attributes
    ----------
    name : str
    states, params, noises, alias_names : tuple of str
        In declaration order (``noises`` sorted).
    symbols : dict
        Name -> ``sympy.Symbol(name, real=True)`` of every state, parameter and ``t``.
    rhs : dict
        State -> drift (aliases substituted, noise excluded).
    noise : dict
        State -> tuple of the coefficients of ``noises``.
    aliases : dict
        Alias -> expression (aliases substituted), in declaration order.
    raw : dict
        State or alias -> its right-hand side as written (aliases not substituted).
    initial : dict
        State -> initial value (an expression of parameters).
    threshold, refractory_time, refractory_condition : sympy or None
    reset : tuple of (state index, expression)
    unless_refractory : tuple of bool
    time_dimensionless : bool
    source : str or None
        The file the model came from (for error messages).
    statements : dict
        Name -> ``(text, line)`` of the statement that defines it (for error messages).
    event_labels : dict
        ``"threshold"``, ``"reset"``, ``"refractory"`` -> the words naming the event and
        its text in error messages (``"threshold 'v > 1'"``).
    """

    name: str
    states: tuple
    params: tuple
    noises: tuple
    alias_names: tuple
    symbols: dict
    rhs: dict
    noise: dict
    aliases: dict
    raw: dict
    initial: dict
    threshold: object
    reset: tuple
    refractory_time: object
    refractory_condition: object
    unless_refractory: tuple
    time_dimensionless: bool
    source: str | None
    statements: dict
    event_labels: dict


class SymbolicBuild:
    """The symbolic mode of the checking pass's builder
    (:class:`biosnn.equations.checks.Builder` derives from it).
    """

    def build_symbolic(self) -> SymbolicModel:
        """The sympy form of the Model (run once, lazily, after all checks passed)."""
        self._set_mode(True)
        self._convert_equations()
        self._convert_initial()
        self._convert_events()
        args = self.args
        return SymbolicModel(
            name=args["name"],
            states=tuple(self.states),
            params=tuple(self.param_names),
            noises=tuple(self.noises),
            alias_names=tuple(self.alias_names),
            symbols=self.symbols,
            rhs=self.rhs,
            noise=self.noise,
            aliases=self.aliases,
            raw=self.raw,
            initial=self.initial,
            threshold=self.threshold,
            reset=self.reset,
            refractory_time=self.refractory_time,
            refractory_condition=self.refractory_condition,
            unless_refractory=tuple("unless refractory" in self.decl[s].flags for s in self.states),
            time_dimensionless=self.time_dimensionless,
            source=self.source,
            statements={s.name: (s.text, s.line) for s in self.statements},
            event_labels={
                label: f"in {self.origin.label(label)} {args[label]!r}"
                for label in ("threshold", "reset", "refractory")
            },
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
            check_finite(
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
            return xreplace_checked(expr, subs)
        except Overflow as exc:
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


class Overflow(Exception):
    """A term that evaluated to a Float beyond the range of a double (its text)."""


def xreplace_checked(expr, subs):
    """``expr.xreplace(subs)``, rebuilt bottom-up like sympy's, refusing (:class:`Overflow`) a
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
            raise Overflow(str(e))
        memo[e] = out
        return out

    return rebuild(expr)


def check_finite(exprs, where: str, how: str, *, line=None, source=None) -> None:
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
