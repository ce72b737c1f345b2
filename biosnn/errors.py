"""Exceptions of biosnn.

Every error a user can provoke with bad input is one of these, with a message that reads
as a sentence and names the problem (the equation, the term, the units, the file and line).
A CompilerError (it names the compiler tried) is the only one after which a caller may run
on NumPy instead of C, and only under ``backend="auto"`` (:mod:`biosnn.codegen.backend`).
"""

from __future__ import annotations

__all__ = [
    "BiosnnError",
    "ModelError",
    "UnitError",
    "SimulationError",
    "MethodError",
    "CompilerError",
    "CacheError",
]


class BiosnnError(Exception):
    """Base class of every error biosnn raises on purpose."""


class ModelError(BiosnnError, ValueError):
    """A model (equation text, model file, parameters, events) is not valid.

    ``line`` and ``column`` (1-based) locate the problem in the text when known,
    ``source`` names the file or the string.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        source: str | None = None,
    ):
        self.line = line
        self.column = column
        self.source = source
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.message = message


class UnitError(ModelError):
    """The dimensions of an equation, a term or a value do not agree."""


class SimulationError(BiosnnError, RuntimeError):
    """A run failed: blow-up (NaN/inf), step size underflow, bad run arguments."""


class MethodError(BiosnnError, ValueError):
    """An integration method cannot integrate this model (and says why)."""


class CompilerError(BiosnnError, RuntimeError):
    """The C compiler failed or is missing; callers fall back to NumPy."""


class CacheError(BiosnnError, RuntimeError):
    """The cache directory cannot be used safely (another user's, writable by others,
    not a directory); the message names the path and the fix.
    """
