r"""Equation text -> statements; expressions -> sympy through a whitelist.

The language is Brian2's (see docs/architecture.md)::

    dv/dt = (El - v)/tau + I/C : volt (unless refractory)   # differential equation
    I = g*(E - v) : amp                                       # alias (subexpression)
    tau : second (constant)                                   # parameter declaration

Functions: those of docs/architecture.md plus Brian2's ``exprel(x) = (exp(x) - 1)/x``
(built as ``1/XOverExpm1(x)``, exact and finite at ``x = 0``).

Safety: text is parsed with :func:`ast.parse` and the tree is walked by
:class:`Converter`, which knows a fixed set of node types, operators and functions and builds
sympy objects itself.  Nothing is ever passed to ``eval``, ``exec`` or ``sympify``; anything
outside the whitelist is a :class:`~biosnn.errors.ModelError` naming line, column and the
construct.

Two steps: :func:`parse_equations` / :func:`parse_expression_text` / :func:`parse_reset`
check the syntax and the whitelist (no names resolved yet) and return small records;
:class:`Converter` turns an :class:`Expression` into ``(sympy_expr, dimension)`` given a
namespace, checking units on the way.  :func:`parse_expression` does both for one string.

Examples
--------
>>> from biosnn.equations.parser import parse_equations, parse_expression
>>> [s.kind for s in parse_equations("dv/dt = -v/tau : volt\ntau : second")]
['diff', 'param']
>>> expr, dim = parse_expression("-65*mV + 10*mV")
>>> expr
-55
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import numbers
import re
from dataclasses import dataclass, field

from biosnn import units
from biosnn.errors import ModelError, UnitError

__all__ = [
    "Expression",
    "Statement",
    "ResetStatement",
    "Converter",
    "BOOL",
    "FUNCTIONS",
    "parse_equations",
    "parse_expression_text",
    "parse_reset",
    "parse_expression",
    "check_name",
    "is_noise_name",
    "is_number",
]

#: Longest expression accepted (characters): model text is untrusted input.
MAX_LENGTH = 20_000
#: Largest magnitude of a number computed from literals (``10**400`` is refused).
MAX_NUMBER = 1e300

#: Marker "dimension" of a boolean (a condition).
BOOL = "boolean"

#: Functions allowed in expressions -> number of arguments.
FUNCTIONS = {
    "exp": 1,
    "log": 1,
    "log10": 1,
    "sqrt": 1,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "sinh": 1,
    "cosh": 1,
    "tanh": 1,
    "abs": 1,
    "sign": 1,
    "floor": 1,
    "ceil": 1,
    "clip": 3,
    "heaviside": 1,
    "minimum": 2,
    "maximum": 2,
    "where": 3,
    "ifelse": 3,
    "exprel": 1,
}
FLAGS = {"diff": ("unless refractory",), "alias": (), "param": ("constant",)}

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto "
    "if inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false "
    "NULL".split()
)
#: Names a user variable may not take (besides '_*', keywords and functions).
RESERVED = frozenset({"t", "dt", "pi", "inf"})

_FORBIDDEN = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (x[...])",
    ast.Lambda: "lambda",
    ast.IfExp: "the conditional expression 'a if c else b' (use where(c, a, b))",
    ast.NamedExpr: "the assignment expression ':='",
    ast.JoinedStr: "f-strings",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.Starred: "starred expressions",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_OPNAMES = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_HINTS = {
    "min": " (use minimum)",
    "max": " (use maximum)",
    "pow": " (use **)",
    "ln": " (use log)",
    "ceiling": " (use ceil)",
    "Abs": " (use abs)",
    "fabs": " (use abs)",
    "heavi": " (use heaviside)",
}
_OPERATOR_NODES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


def is_number(value) -> bool:
    """True for a real number given as a value (an int or float, not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_noise_name(name: str) -> bool:
    """True for white-noise names: ``xi``, ``xi_1``, ``xi_name``."""
    return name == "xi" or name.startswith("xi_")


def check_name(name: str, *, what: str = "variable", line=None, source=None) -> None:
    """Refuse names a user variable may not have (``_x``, keywords, ``t``, ``xi`` ...).

    Examples
    --------
    >>> check_name("tau")
    >>> check_name("int")
    Traceback (most recent call last):
    ...
    biosnn.errors.ModelError: int cannot be the name of a variable: it is a C keyword
    """
    reason = None
    if not re.fullmatch(r"[A-Za-z_]\w*", name or "", re.ASCII):
        reason = "it is not an identifier (letters, digits and _, not starting with a digit)"
    elif name.startswith("_"):
        reason = "names starting with '_' are reserved"
    elif keyword.iskeyword(name) or name in ("True", "False", "None"):
        reason = "it is a Python keyword"
    elif name in C_KEYWORDS:
        reason = "it is a C keyword"
    elif is_noise_name(name):
        reason = "xi and xi_* are white-noise symbols"
    elif name in RESERVED:
        reason = "it is reserved (t is time, dt the step)"
    elif name in FUNCTIONS:
        reason = "it is the name of a function"
    if reason:
        raise ModelError(
            f"{name} cannot be the name of a {what}: {reason}", line=line, source=source
        )


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A whitelisted (syntax-checked) expression, not yet converted to sympy.

    ``line`` is the line (1-based, in the file) of the text's first character and ``col``
    its 0-based column; positions of AST nodes are mapped back with :meth:`position`.
    """

    text: str
    tree: ast.Expression = field(compare=False, repr=False)
    line: int = 1
    col: int = 0
    source: str | None = None

    @property
    def names(self) -> frozenset:
        """Every name used (variables, units, functions excluded)."""
        calls = {id(n.func) for n in ast.walk(self.tree) if isinstance(n, ast.Call)}
        return frozenset(
            n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and id(n) not in calls
        )

    @property
    def canonical(self) -> str:
        """Whitespace- and comment-free text (``ast.unparse``)."""
        return ast.unparse(self.tree)

    def position(self, node):
        """(line, column) of a node, 1-based, in the file."""
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        if lineno == 1:
            col += self.col
        return self.line + lineno - 1, col + 1

    def segment(self, node) -> str:
        """The source text of a node, whitespace collapsed."""
        seg = ast.get_source_segment(self.text, node) or ast.unparse(node)
        return " ".join(seg.split())


@dataclass(frozen=True)
class Statement:
    """One line of an equations block.

    kind : "diff" (``dx/dt = expr : unit``), "alias" (``x = expr : unit``) or "param"
    (``x : unit``).
    """

    kind: str
    name: str
    expr: Expression | None
    unit: str
    flags: tuple
    line: int
    text: str
    source: str | None = None

    @property
    def canonical(self) -> str:
        lhs = {"diff": f"d{self.name}/dt = ", "alias": f"{self.name} = ", "param": self.name}
        body = self.expr.canonical if self.expr is not None else ""
        flags = f" ({', '.join(self.flags)})" if self.flags else ""
        return f"{lhs[self.kind]}{body} : {' '.join(self.unit.split())}{flags}"


@dataclass(frozen=True)
class ResetStatement:
    """``name op expr`` with op one of ``= += -= *= /=``."""

    name: str
    op: str
    expr: Expression
    line: int
    text: str

    @property
    def canonical(self) -> str:
        return f"{self.name} {self.op} {self.expr.canonical}"


# -- splitting text -------------------------------------------------------------------------


def _error(message, line=None, column=None, source=None, cls=ModelError):
    return cls(message, line=line, column=column, source=source)


def _logical_lines(text: str, first_line: int, source):
    """Yield (line, chunk) with comments removed; a chunk continues while '(' is open."""
    buf, depth, start = [], 0, None
    for i, raw in enumerate(text.split("\n")):
        code = raw.split("#", 1)[0].rstrip()
        if start is None:
            if not code.strip():
                continue
            start = i
        buf.append(code)
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0:
            yield first_line + start, "\n".join(buf)
            buf, depth, start = [], 0, None
    if buf:
        raise _error("a parenthesis opened here is never closed", first_line + start, source=source)


def _top_level(text: str, chars: str):
    """Offsets of characters in ``chars`` at parenthesis depth 0."""
    depth, found = 0, []
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c in chars and depth == 0:
            found.append(i)
    return found


def _line_col(chunk: str, offset: int, line: int):
    """(line, 0-based column) of an offset into a multi-line chunk."""
    before = chunk[:offset]
    return line + before.count("\n"), offset - (before.rfind("\n") + 1)


# -- expressions ----------------------------------------------------------------------------


def parse_expression_text(
    text: str, *, line: int = 1, col: int = 0, source=None, what: str = "expression"
) -> Expression:
    """Syntax- and whitelist-check an expression; return an :class:`Expression`.

    Examples
    --------
    >>> parse_expression_text("a.b")
    Traceback (most recent call last):
    ...
    biosnn.errors.ModelError: line 1, column 1: not allowed in an expression: attribute access (a.b)
    """
    if not isinstance(text, str):
        raise _error(f"the {what} must be a string, not {type(text).__name__}", line, source=source)
    stripped = text.lstrip()
    skipped = text[: len(text) - len(stripped)]
    if "\n" in skipped:
        line += skipped.count("\n")
        col = len(skipped) - skipped.rfind("\n") - 1
    else:
        col += len(skipped)
    stripped = stripped.rstrip()
    if not stripped:
        raise _error(f"the {what} is empty", line, col + 1, source)
    if len(stripped) > MAX_LENGTH:
        raise _error(
            f"the {what} is too long ({len(stripped)} characters; at most {MAX_LENGTH})",
            line,
            col + 1,
            source,
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, stripped, line, col, source) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # huge literals, deep nesting
        raise _error(f"cannot read the {what}: {exc}", line, col + 1, source) from None
    expr = Expression(stripped, tree, line, col, source)
    try:
        _Whitelist(expr).visit(tree)
    except RecursionError:
        raise _error(f"the {what} is nested too deeply", line, col + 1, source) from None
    return expr


def _syntax_error(exc: SyntaxError, text: str, line: int, col: int, source):
    lineno = exc.lineno or 1
    column = (exc.offset or 1) - 1 + (col if lineno == 1 else 0)
    message = "invalid syntax"
    if "^" in text and "**" not in text:
        message += " ('^' is not allowed: write ** for a power)"
    if re.search(r"\b(import|lambda|def|class|for|while|with|yield|await)\b", text):
        message += "; statements and Python keywords are not allowed in expressions"
    return _error(f"{message}: {' '.join(text.split())!r}", line + lineno - 1, column + 1, source)


class _Whitelist(ast.NodeVisitor):
    """Refuse every node outside the whitelist, with line and column."""

    def __init__(self, expr: Expression):
        self.expr = expr

    def fail(self, node, what: str):
        line, column = self.expr.position(node)
        raise _error(f"not allowed in an expression: {what}", line, column, self.expr.source)

    def children(self, node):
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _OPERATOR_NODES):
                self.visit(child)

    def visit_Expression(self, node):
        self.children(node)

    def generic_visit(self, node):
        for cls, what in _FORBIDDEN.items():
            if isinstance(node, cls):
                self.fail(node, what)
        self.fail(node, type(node).__name__)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self.fail(node, "a string")
        if type(node.value) not in (int, float, bool):
            self.fail(node, f"the constant {node.value!r}")

    def visit_Name(self, node):
        if node.id.startswith("_"):
            self.fail(node, f"the name {node.id} (names starting with '_')")

    def visit_BinOp(self, node):
        if isinstance(node.op, ast.BitXor):
            self.fail(node, "'^' (write ** for a power)")
        if not isinstance(node.op, _BINOPS):
            self.fail(node, f"the operator {_OPNAMES.get(type(node.op), '?')}")
        self.children(node)

    def visit_UnaryOp(self, node):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            self.fail(node, f"the operator {_OPNAMES.get(type(node.op), '?')}")
        self.children(node)

    def visit_BoolOp(self, node):
        self.children(node)

    def visit_Compare(self, node):
        for op in node.ops:
            if not isinstance(op, _COMPARE):
                self.fail(node, f"the operator {_OPNAMES.get(type(op), '?')}")
        self.children(node)

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name):
            self.fail(
                node,
                f"calling {ast.unparse(node.func)}() (only the functions "
                f"{', '.join(sorted(FUNCTIONS))} may be called)",
            )
        name = node.func.id
        if name.startswith("_") or name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            hint = _HINTS.get(name, "")
            self.fail(node, f"calling {name}(){hint} (allowed functions: {allowed})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, f"keyword or starred arguments in {name}()")
        if len(node.args) != FUNCTIONS[name]:
            line, column = self.expr.position(node)
            raise _error(
                f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(node.args)}",
                line,
                column,
                self.expr.source,
            )
        for arg in node.args:
            self.visit(arg)


# -- equations ------------------------------------------------------------------------------

_DIFF = re.compile(r"\s*d\s*([A-Za-z_]\w*)\s*/\s*dt\s*=(?!=)")
_ALIAS = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)")
_PARAM = re.compile(r"\s*([A-Za-z_]\w*)\s*$")
_FLAGS = re.compile(r"\(([A-Za-z_][\w ,]*)\)\s*$")


def parse_equations(text: str, *, source=None, first_line: int = 1) -> list:
    """Split an equations block into :class:`Statement` records (syntax + whitelist only).

    Parameters
    ----------
    text : str
        The equations.
    source : str, optional
        File name for error messages.
    first_line : int
        Line number (in the file) of the text's first line.

    Examples
    --------
    >>> s = parse_equations("dv/dt = -v/tau : volt (unless refractory)")[0]
    >>> s.kind, s.name, s.unit, s.flags
    ('diff', 'v', 'volt', ('unless refractory',))
    """
    if not isinstance(text, str):
        raise _error(f"equations must be a string, not {type(text).__name__}", source=source)
    return [
        _statement(chunk, line, source) for line, chunk in _logical_lines(text, first_line, source)
    ]


def _statement(chunk: str, line: int, source) -> Statement:
    text = " ".join(chunk.split())
    colons = _top_level(chunk, ":")
    if not colons:
        raise _error(
            f"{text!r} has no unit: write 'dx/dt = ... : unit', 'x = ... : unit' "
            "or 'x : unit' (': 1' for dimensionless)",
            line,
            source=source,
        )
    lhs, rhs = chunk[: colons[-1]], chunk[colons[-1] + 1 :]
    unit, flags = _unit_and_flags(rhs, text, line, source)
    for pattern, kind in ((_DIFF, "diff"), (_ALIAS, "alias"), (_PARAM, "param")):  # noqa: B007
        match = pattern.match(lhs)
        if match:
            break
    else:
        raise _error(
            f"cannot read {text!r} as an equation: expected 'dx/dt = expr : unit', "
            "'x = expr : unit' or 'x : unit'",
            line,
            source=source,
        )
    name = match.group(1)
    check_name(name, what="variable", line=line, source=source)
    for flag in flags:
        if flag not in FLAGS[kind]:
            allowed = " or ".join(f"({f})" for f in FLAGS[kind]) or "no flags"
            raise _error(
                f"in {text!r}: the flag ({flag}) is not supported here (allowed: {allowed})",
                line,
                source=source,
            )
    expr = None
    if kind != "param":
        eline, ecol = _line_col(chunk, match.end(), line)
        expr = parse_expression_text(
            lhs[match.end() :],
            line=eline,
            col=ecol,
            source=source,
            what=f"right-hand side of {name}",
        )
    return Statement(kind, name, expr, unit, flags, line, text, source)


def _unit_and_flags(rhs: str, text: str, line: int, source):
    flags = ()
    match = _FLAGS.search(rhs)
    if match and not rhs[: match.start()].rstrip().endswith(("*", "/")):
        flags = tuple(" ".join(f.split()) for f in match.group(1).split(","))
        rhs = rhs[: match.start()]
    unit = " ".join(rhs.split())
    if not unit:
        raise _error(
            f"{text!r} has no unit after ':' (': 1' for dimensionless)", line, source=source
        )
    try:
        units.parse_unit(unit)
    except UnitError as exc:
        raise _error(f"in {text!r}: {exc}", line, source=source, cls=UnitError) from None
    return unit, flags


# -- reset ----------------------------------------------------------------------------------

_ASSIGN = re.compile(r"\s*([A-Za-z_]\w*)\s*([-+*/]?=)(?!=)")


def parse_reset(text: str, *, source=None, first_line: int = 1) -> list:
    """Parse reset statements ``v = c; u += d`` (``;`` or newlines separate them).

    Examples
    --------
    >>> [(r.name, r.op, r.expr.text) for r in parse_reset("v = c; u += d")]
    [('v', '=', 'c'), ('u', '+=', 'd')]
    """
    if not isinstance(text, str):
        raise _error(f"reset must be a string, not {type(text).__name__}", source=source)
    result = []
    for line, chunk in _logical_lines(text, first_line, source):
        starts = [0] + [i + 1 for i in _top_level(chunk, ";")]
        ends = [i for i in _top_level(chunk, ";")] + [len(chunk)]
        for start, end in zip(starts, ends):
            piece = chunk[start:end]
            if not piece.strip():
                continue
            pline, pcol = _line_col(chunk, start, line)
            match = _ASSIGN.match(piece)
            if not match:
                raise _error(
                    f"cannot read {' '.join(piece.split())!r} as a reset statement "
                    "(expected 'x = expr', 'x += expr', ...)",
                    pline,
                    pcol + 1,
                    source,
                )
            eline, ecol = _line_col(chunk, start + match.end(), line)
            expr = parse_expression_text(
                piece[match.end() :], line=eline, col=ecol, source=source, what="reset value"
            )
            result.append(
                ResetStatement(match.group(1), match.group(2), expr, pline, " ".join(piece.split()))
            )
    return result


# -- conversion to sympy --------------------------------------------------------------------


def units_words(dim) -> str:
    if dim == BOOL:
        return "is a condition (true/false)"
    if units.is_dimensionless(dim):
        return "has no units (dimensionless)"
    return f"has units of {units.format_dimension(dim)}"


def needs_words(dim) -> str:
    if units.is_dimensionless(dim):
        return "a dimensionless value"
    return units.format_dimension(dim)


def _is_zero_literal(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_zero_literal(node.operand)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 0


class Converter:
    """Turn an :class:`Expression` into ``(sympy_expr, dimension)``.

    Parameters
    ----------
    namespace : dict
        name -> (sympy expression, dimension).  Names not in it may be units
        (``mV``: a number in internal units carrying its dimension) or the constants
        ``pi``, ``inf``; anything else is an undefined name.
    context : str
        Words that open every error message (``'in "dv/dt = ... : volt"'``).

    Dimensions are :class:`biosnn.units.Dimension` values, or :data:`BOOL` for conditions.
    """

    def __init__(self, namespace: dict, context: str = "", *, symbolic: bool = True):
        if symbolic:
            import sympy

            self.sp = sympy
        else:
            self.sp = _FloatAlgebra
        self.symbolic = symbolic
        self.namespace = namespace
        self.context = context
        self.expr: Expression | None = None

    def _is_num(self, value) -> bool:
        if self.symbolic:
            return bool(value.is_number)
        return isinstance(value, float)

    # entry point ------------------------------------------------------------------------
    def convert(self, expr: Expression, expected=None, needs: str = "the equation needs"):
        """Convert; if ``expected`` is given, check the result (term by term for a sum)."""
        self.expr = expr
        try:
            return self._convert(expr, expected, needs)
        except RecursionError:
            raise ModelError(
                f"{self._prefix()}the expression is nested too deeply",
                line=expr.line,
                source=expr.source,
            ) from None

    def _convert(self, expr, expected, needs):
        body = expr.tree.body
        if expected is None:
            return self.visit(body)
        if expected != BOOL and self._is_sum(body):
            return self._sum(body, expected=expected, needs=needs)
        value, dim = self.visit(body)
        if dim == BOOL and expected != BOOL:
            value, dim = self._as_number(value), units.dimensionless()
        if dim != expected and not (expected != BOOL and _is_zero_literal(body)):
            noun = "the right-hand side " if needs.startswith(("the equation", "the alias")) else ""
            wanted = "a condition" if expected == BOOL else needs_words(expected)
            self.unit_error(f"{noun}{expr.segment(body)} {units_words(dim)} but {needs} {wanted}")
        return value, dim

    # errors -----------------------------------------------------------------------------
    def _prefix(self) -> str:
        return f"{self.context}, " if self.context else ""

    def unit_error(self, message: str):
        raise UnitError(self._prefix() + message, line=self.expr.line, source=self.expr.source)

    def value_error(self, message: str):
        raise ModelError(self._prefix() + message, line=self.expr.line, source=self.expr.source)

    def name_error(self, node, message: str):
        line, column = self.expr.position(node)
        raise ModelError(
            self._prefix() + message, line=line, column=column, source=self.expr.source
        )

    # helpers ----------------------------------------------------------------------------
    @staticmethod
    def _is_sum(node) -> bool:
        return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))

    def _as_number(self, cond):
        return self.sp.Piecewise((1, cond), (0, True))

    def _number(self, node):
        value, dim = self.visit(node)
        if dim == BOOL:
            return self._as_number(value), units.dimensionless()
        return value, dim

    def _condition(self, node, where: str):
        value, dim = self.visit(node)
        if dim != BOOL:
            self.unit_error(
                f"{self.expr.segment(node)} is used as {where} but is not a "
                "condition (write a comparison such as x > 0)"
            )
        return value

    def _same(self, nodes, what: str):
        """Convert nodes that must share one dimension (0 literals match anything)."""
        values, ref = [], None
        for node in nodes:
            value, dim = self._number(node)
            values.append(value)
            if _is_zero_literal(node):
                continue
            if ref is None:
                ref = (node, dim)
            elif dim != ref[1]:
                self.unit_error(
                    f"{what}: {self.expr.segment(node)} {units_words(dim)} but "
                    f"{self.expr.segment(ref[0])} {units_words(ref[1])}"
                )
        return values, (units.dimensionless() if ref is None else ref[1])

    def _dimensionless_arg(self, node, fname):
        value, dim = self._number(node)
        if not units.is_dimensionless(dim):
            self.unit_error(
                f"the argument of {fname}(), {self.expr.segment(node)}, "
                f"{units_words(dim)} but must be dimensionless"
            )
        return value

    # nodes ------------------------------------------------------------------------------
    def visit(self, node):
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:  # the whitelist makes this unreachable
            self.name_error(node, f"{type(node).__name__} is not allowed in an expression")
        try:
            value, dim = method(node)
        except (TypeError, ValueError, ArithmeticError, _NoConvergence) as exc:
            if isinstance(exc, ModelError):
                raise
            # sympy refusing to build the term: a comparison with zoo or nan, Min/Max of
            # values it cannot order (exprel(inf)), cosh(1e300) overflowing mpmath ...
            self.value_error(f"{self.expr.segment(node)} cannot be computed ({exc})")
        if self.symbolic:
            self._check_value(node, value)
            if overflows_double(value):  # sinh(1e288): sin() of it would take hours
                self.value_error(
                    f"{self.expr.segment(node)} is too large (beyond the range of a double)"
                )
            if getattr(value, "is_Integer", False) and abs(value.p) > 2**53:
                if abs(value.p) > 10**300:  # floor(cosh(exp(10))): 9566 digits
                    self.value_error(f"{self.expr.segment(node)} is too large")
                value = self.sp.Float(value)  # ceil(1e300): a double, as typed
        return value, dim

    def _check_value(self, node, value):
        """Refuse a term that is infinite, undefined or complex for every value of it.

        Such a term (``1/(v - v)``, ``0/0``, ``inf - inf``, ``log(0)``, ``sqrt(-1)``) has no
        value any code could compute.  Children are visited first, so the term named is the smallest
        one.  (``inf`` itself, and ``exp(inf)``, are values: they are allowed.)
        """
        sp = self.sp
        if not isinstance(value, sp.Basic):
            return
        for marker, what in (
            (sp.zoo, "infinite (such as 1/0 or log(0))"),
            (sp.nan, "undefined (such as 0/0, inf - inf or 0*inf)"),
            (sp.I, "not a real number"),
            (sp.AccumBounds, "not a number (such as cos(inf))"),
        ):
            if value.has(marker):
                self.value_error(f"{self.expr.segment(node)} is {what}")

    def visit_Constant(self, node):
        sp = self.sp
        if isinstance(node.value, bool):
            return (sp.true if node.value else sp.false), BOOL
        if abs(node.value) > MAX_NUMBER or node.value != node.value:
            self.value_error(f"the number {self.expr.segment(node)} is too large")
        if isinstance(node.value, int):
            return sp.Integer(node.value), units.dimensionless()
        return sp.Float(node.value), units.dimensionless()

    def visit_Name(self, node):
        name = node.id
        if name in self.namespace:
            return self.namespace[name]
        if units.is_unit_name(name):
            factor, dim = units.unit_name(name)
            return sympy_number(self.sp, factor), dim
        if name == "pi":
            return self.sp.pi, units.dimensionless()
        if name == "inf":
            return self.sp.oo, units.dimensionless()
        known = [n for n in self.namespace if not n.startswith("_")]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        self.name_error(node, f"{name} is not defined{hint}")

    def _sum(self, node, expected=None, needs="the equation needs"):
        terms = []

        def flatten(n, sign):
            if self._is_sum(n):
                flatten(n.left, sign)
                flatten(n.right, sign if isinstance(n.op, ast.Add) else -sign)
            else:
                terms.append((n, sign))

        flatten(node, 1)
        if expected is None:
            values, dim = self._same([n for n, _ in terms], "the terms of a sum must agree")
        else:
            values, dim = [], expected
            for n, _ in terms:
                value, d = self._number(n)
                values.append(value)
                if d != expected and not _is_zero_literal(n):
                    self.unit_error(
                        f"the term {self.expr.segment(n)} {units_words(d)} but "
                        f"{needs} {needs_words(expected)}"
                    )
        return self.sp.Add(*[s * v for (_, s), v in zip(terms, values)]), dim

    def visit_BinOp(self, node):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return self._sum(node)
        if isinstance(node.op, ast.Pow):
            return self._power(node)
        (left, d1), (right, d2) = self._number(node.left), self._number(node.right)
        if isinstance(node.op, ast.Mult):
            return left * right, d1 * d2
        if isinstance(node.op, ast.Div):
            if isinstance(right, float) and right == 0.0:  # checking pass: a number
                self.value_error(f"{self.expr.segment(node)} divides by zero")
            return left / right, d1 / d2
        self.name_error(node, "this operator is not allowed")

    def _power(self, node):
        base, dim = self._number(node.left)
        exponent, edim = self._number(node.right)
        if not units.is_dimensionless(edim):
            self.unit_error(
                f"the exponent {self.expr.segment(node.right)} "
                f"{units_words(edim)} but must be dimensionless"
            )
        if self._is_num(base) and self._is_num(exponent):
            # a unit is a number with a dimension: mV**-1 is 1/mV, with dimension 1/voltage
            if not units.is_dimensionless(dim):
                power = float(exponent)
                if not math.isfinite(power):
                    self.value_error(f"{self.expr.segment(node)} is not a finite real number")
                dim = dim ** (int(power) if power == int(power) else power)
            return self._number_power(node, base, exponent), dim
        if units.is_dimensionless(dim):
            return base**exponent, dim
        if not self._is_num(exponent):
            self.unit_error(
                f"{self.expr.segment(node.left)} {units_words(dim)}, so its "
                f"exponent {self.expr.segment(node.right)} must be a number"
            )
        if not math.isfinite(float(exponent)):
            self.unit_error(
                f"{self.expr.segment(node.left)} {units_words(dim)}, so its "
                f"exponent {self.expr.segment(node.right)} must be finite"
            )
        power = float(exponent)
        power = int(power) if power == int(power) else power
        return base**exponent, dim**power

    def _number_power(self, node, base, exponent):
        """A power of two numbers, computed in floating point (``9**9**9`` must not hang)."""
        try:
            value = float(base) ** float(exponent)
        except (OverflowError, ZeroDivisionError, TypeError):
            value = float("inf")
        if isinstance(value, complex) or not abs(value) <= MAX_NUMBER:
            self.value_error(f"{self.expr.segment(node)} is not a finite real number")
        if not self.symbolic:
            return value
        if base.is_Integer and exponent.is_Integer and exponent >= 0 and abs(value) < 2**53:
            return base**exponent
        return self.sp.Float(value)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            return self.sp.Not(self._condition(node.operand, "the operand of 'not'")), BOOL
        value, dim = self._number(node.operand)
        return (-value if isinstance(node.op, ast.USub) else value), dim

    def visit_BoolOp(self, node):
        parts = [
            self._condition(v, f"an operand of '{type(node.op).__name__.lower()}'")
            for v in node.values
        ]
        return (self.sp.And if isinstance(node.op, ast.And) else self.sp.Or)(*parts), BOOL

    def visit_Compare(self, node):
        sp = self.sp
        ops = {
            ast.Lt: sp.Lt,
            ast.LtE: sp.Le,
            ast.Gt: sp.Gt,
            ast.GtE: sp.Ge,
            ast.Eq: sp.Eq,
            ast.NotEq: sp.Ne,
        }
        nodes = [node.left] + list(node.comparators)
        values, _ = self._same(nodes, f"the sides of {self.expr.segment(node)} must agree")
        parts = [ops[type(op)](values[i], values[i + 1]) for i, op in enumerate(node.ops)]
        return (parts[0] if len(parts) == 1 else sp.And(*parts)), BOOL

    def _nonsmooth(self) -> dict:
        """floor, ceiling, sign, Abs, Min, Max: biosnn's sympy classes (derivatives
        almost everywhere, see :mod:`biosnn.codegen.functions`) or the float stand-ins.
        """
        if not self.symbolic:
            sp = self.sp
            return {
                "floor": sp.floor,
                "ceiling": sp.ceiling,
                "sign": sp.sign,
                "Abs": sp.Abs,
                "Min": sp.Min,
                "Max": sp.Max,
            }
        from biosnn.codegen.functions import NONSMOOTH

        return NONSMOOTH

    def visit_Call(self, node):
        sp, name, args = self.sp, node.func.id, node.args
        simple = {
            "exp": sp.exp,
            "log": sp.log,
            "sin": sp.sin,
            "cos": sp.cos,
            "tan": sp.tan,
            "sinh": sp.sinh,
            "cosh": sp.cosh,
            "tanh": sp.tanh,
        }
        if name in simple:
            return simple[name](self._dimensionless_arg(args[0], name)), units.dimensionless()
        if name == "exprel":  # Brian2's (exp(x) - 1)/x, 1 at x = 0: 1/XOverExpm1(x)
            x = self._dimensionless_arg(args[0], name)
            if not self.symbolic:
                return UNKNOWN, units.dimensionless()
            from biosnn.codegen.functions import XOverExpm1

            return 1 / XOverExpm1(x), units.dimensionless()
        if name == "log10":
            x = self._dimensionless_arg(args[0], name)
            return sp.log(x) / sp.log(10), units.dimensionless()
        fn = self._nonsmooth()
        if name in ("sqrt", "abs", "floor", "ceil", "sign", "heaviside"):
            x, dim = self._number(args[0])
            if name == "sqrt":
                return sp.sqrt(x), dim**0.5
            if name == "sign":
                return fn["sign"](x), units.dimensionless()
            if name == "heaviside":
                return sp.Piecewise((1, x > 0), (0, True)), units.dimensionless()
            return fn[{"abs": "Abs", "floor": "floor", "ceil": "ceiling"}[name]](x), dim
        if name in ("minimum", "maximum", "clip"):
            values, dim = self._same(args, f"the arguments of {name}() must agree")
            if name == "clip":
                return fn["Min"](fn["Max"](values[0], values[1]), values[2]), dim
            return fn["Min" if name == "minimum" else "Max"](*values), dim
        # where / ifelse
        cond = self._condition(args[0], f"the condition of {name}()")
        (a, b), dim = self._same(args[1:], f"the two values of {name}() must agree")
        return sp.Piecewise((a, cond), (b, True)), dim


try:
    from mpmath.libmp import NoConvergence as _NoConvergence  # sympy's dependency
except ImportError:  # pragma: no cover - without sympy there is no symbolic pass

    class _NoConvergence(Exception):
        pass


class _Unknown:
    """A value not known at checking time (any operation gives UNKNOWN again)."""

    def _any(self, *args, **kwargs):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _any
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = __pos__ = _any
    __lt__ = __le__ = __gt__ = __ge__ = _any
    __hash__ = object.__hash__

    def __repr__(self):
        return "UNKNOWN"


#: The value of a symbol when only dimensions are checked (``symbolic=False``).
UNKNOWN = _Unknown()


def _float_function(fn):
    def apply(*args):
        if all(isinstance(a, float) for a in args):
            try:
                return float(fn(*args))
            except (ValueError, OverflowError, ZeroDivisionError):
                return UNKNOWN
        return UNKNOWN

    return apply


class _FloatAlgebra:
    """Stand-in for sympy when only checking dimensions: numbers are folded to floats
    (exponents of dimensional bases must be numbers), everything else is UNKNOWN.  No
    sympy import, so a Model is checked in milliseconds.
    """

    import math as _m

    Integer = Float = staticmethod(float)
    true, false = True, False
    pi, oo, E = _m.pi, _m.inf, _m.e
    exp = staticmethod(_float_function(_m.exp))
    log = staticmethod(_float_function(_m.log))
    sin = staticmethod(_float_function(_m.sin))
    cos = staticmethod(_float_function(_m.cos))
    tan = staticmethod(_float_function(_m.tan))
    sinh = staticmethod(_float_function(_m.sinh))
    cosh = staticmethod(_float_function(_m.cosh))
    tanh = staticmethod(_float_function(_m.tanh))
    sqrt = staticmethod(_float_function(_m.sqrt))
    Abs = staticmethod(_float_function(abs))
    sign = staticmethod(_float_function(lambda x: (x > 0) - (x < 0)))
    floor = staticmethod(_float_function(_m.floor))
    ceiling = staticmethod(_float_function(_m.ceil))
    Min = staticmethod(_float_function(min))
    Max = staticmethod(_float_function(max))
    Add = staticmethod(_float_function(lambda *a: sum(a)))

    @staticmethod
    def Piecewise(*pieces):
        return UNKNOWN

    Not = And = Or = Lt = Le = Gt = Ge = Eq = Ne = Piecewise

    del _m


def overflows_double(value) -> bool:
    """Whether ``value`` is a finite sympy Float beyond the range of a double.

    mpmath's exponent is unbounded, so sympy evaluates ``sinh(1e288)`` to a finite Float
    that every backend computes as inf; a trigonometric function of it then asks mpmath
    for pi to ~1e288 digits (a hang).  Such a number is refused where it appears.
    """
    if not getattr(value, "is_Float", False):
        return False
    try:
        return not math.isfinite(float(value)) and bool(value.is_finite)
    except (OverflowError, ValueError):
        return True


def sympy_number(sp, value: float):
    """An Integer for integral values, else a Float."""
    if not isinstance(value, float) and value is UNKNOWN:
        return value
    if value == int(value) and abs(value) < 1e15:
        return sp.Integer(int(value))
    return sp.Float(value)


def parse_expression(
    text: str,
    namespace: dict | None = None,
    *,
    expected=None,
    context: str = "",
    source=None,
    line: int = 1,
    col: int = 0,
    symbolic: bool = True,
):
    """Parse one expression with a namespace: ``(sympy_expr, dimension)``.

    Parameters
    ----------
    text : str
        The expression (``"v > -50*mV"``, ``"alpha/(alpha + beta)"``, ``"10*uA/cm**2"``).
    namespace : dict, optional
        name -> (sympy expression, dimension).
    expected : dimension, optional
        Check the result against it.
    symbolic : bool
        False: check only (no sympy); the value is a float when the expression is a
        constant, else :data:`UNKNOWN`.

    Examples
    --------
    >>> import sympy
    >>> from biosnn.units import parse_unit
    >>> v = sympy.Symbol("v", real=True)
    >>> parse_expression("v > -50*mV", {"v": (v, parse_unit("volt")[1])})[0]
    v > -50
    """
    expr = parse_expression_text(text, line=line, col=col, source=source)
    return Converter(namespace or {}, context, symbolic=symbolic).convert(expr, expected)
