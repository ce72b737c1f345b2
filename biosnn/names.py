"""Names are identifiers; free text is data: the one rule for what a file may name.

Model files, network files, synapse files and the Python API give things names: a model,
its presets, a network, its populations, sources and synapse groups, a synapse model.
Every such name must match :data:`PATTERN` (:func:`check_identifier`)::

    a letter, then letters, digits or underscores (ASCII), at most 64 characters

Variables of equations (states, parameters, aliases) follow the stricter rule of
:func:`biosnn.equations.parser.check_name`, which also refuses keywords and reserved
names.  Everything else a file holds - titles, descriptions, references, unit strings -
is free text: biosnn shows it (escaped, :func:`printable`) but never pastes it into
generated source.  Generated source is assembled only from printer output and fixed
templates; where a generated file says which model it belongs to it uses
:func:`source_token`, which re-checks the name (or hash) at print time, because a name
may reach a generator from a cached manifest rather than from a checked file.

This module imports nothing but the standard library and :mod:`biosnn.errors`.

Examples
--------
>>> check_identifier("hodgkin_huxley", "model name")
'hodgkin_huxley'
>>> check_identifier("my model", "model name")
Traceback (most recent call last):
...
biosnn.errors.ModelError: model name 'my model' is not a valid name: a name is a letter, \
then letters, digits or underscores (at most 64 characters)
>>> source_token("x */ evil(); /*")
'?'
>>> printable("two\\x1b[31m lines")
'two\\\\x1b[31m lines'
"""  # noqa: D301 (the doctests need the escapes and a line continuation)

from __future__ import annotations

import re

from biosnn.errors import ModelError

__all__ = [
    "PATTERN",
    "MAX_LENGTH",
    "RULE",
    "is_identifier",
    "check_identifier",
    "is_variable",
    "from_stem",
    "source_token",
    "printable",
]

#: Longest name accepted.
MAX_LENGTH = 64
#: The pattern every name matches (ASCII only).
PATTERN = rf"[A-Za-z][A-Za-z0-9_]{{0,{MAX_LENGTH - 1}}}"
#: The rule in words, as error messages state it.
RULE = f"a name is a letter, then letters, digits or underscores (at most {MAX_LENGTH} characters)"

_NAME = re.compile(PATTERN)
_TOKEN = re.compile(r"[A-Za-z0-9_]{1,128}")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def is_identifier(name) -> bool:
    """True if ``name`` is a string matching :data:`PATTERN`."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def is_variable(name) -> bool:
    """True if ``name`` has the shape of an equation variable (an ASCII letter, then
    letters, digits, ``_``): what a generator may print as a Python or C identifier.
    For names read back from a cache (the parser checks the rest of the rule).
    """
    return isinstance(name, str) and _VARIABLE.fullmatch(name) is not None


def _shown(name) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def check_identifier(
    name, what: str = "name", *, source: str | None = None, line: int | None = None
) -> str:
    """Return ``name`` if it matches :data:`PATTERN`, else raise ModelError.

    Parameters
    ----------
    name : object
        The name to check.
    what : str
        What the name names, for the message (``"model name"``, ``"preset name"``).
    source, line : optional
        The file and line it comes from (see :class:`~biosnn.errors.ModelError`).

    Returns
    -------
    str
        ``name`` itself.

    Raises
    ------
    ModelError
        Naming ``what``, the (escaped, shortened) name, the rule, the file and line.
    """
    if not is_identifier(name):
        if not isinstance(name, str):
            raise ModelError(
                f"{what} must be a string, not {type(name).__name__}", source=source, line=line
            )
        raise ModelError(
            f"{what} {_shown(name)} is not a valid name: {RULE}", source=source, line=line
        )
    return name


def from_stem(stem: str) -> str:
    """The default name of a file called ``stem`` (+ suffix) that does not name itself.

    The stem itself when it is a valid name, else its characters outside
    ``[A-Za-z0-9_]`` replaced by ``_``, prefixed with ``m_`` when it does not start with
    a letter, cut to :data:`MAX_LENGTH` (``"my-model"`` -> ``"my_model"``).

    >>> from_stem("my-model"), from_stem("2cells")
    ('my_model', 'm_2cells')
    """
    if is_identifier(stem):
        return stem
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem, flags=re.ASCII)
    if not name[:1].isalpha() or not name[:1].isascii():
        name = "m_" + name
    return name[:MAX_LENGTH]


def source_token(text, default: str = "?") -> str:
    """``text`` if it is a plain token (ASCII letters, digits, ``_``; at most 128
    characters), else ``default``: the only form in which a name or a key may appear in
    generated source (in a comment or a docstring), whatever its origin.
    """
    if isinstance(text, str) and _TOKEN.fullmatch(text):
        return text
    return default


# C0 and C1 control characters, DEL, and the Unicode format/separator characters that
# change how a terminal shows the text around them (bidirectional overrides, zero-width)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character escaped as ``\\xNN`` / ``\\uNNNN``.

    ANSI escape sequences, carriage returns, backspaces, bidirectional overrides and the
    like then print as visible text instead of acting on the terminal.  With
    ``keep_newlines``, ``\\n`` is kept (the text's own line breaks); a tab is always
    shown as a space.

    >>> printable("a\\tb\\rc"), printable("p1\\n\\np2", keep_newlines=True)
    ('a b\\\\x0dc', 'p1\\n\\np2')
    """  # noqa: D301 (the doctest escapes are the point)

    def escape(m):
        ch = m.group(0)
        if ch == "\t":
            return " "
        if ch == "\n" and keep_newlines:
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(escape, str(text))
