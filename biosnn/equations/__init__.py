"""Equations: the safe parser, the Model, model files and the library.

Import the pieces from their modules (``biosnn.equations.model.Model``, ...) or from
``biosnn`` itself; this package imports nothing heavy on its own.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Model": "biosnn.equations.model",
    "load_model": "biosnn.equations.files",
    "list_models": "biosnn.equations.files",
    "parse_equations": "biosnn.equations.parser",
    "parse_expression": "biosnn.equations.parser",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'biosnn.equations' has no attribute {name!r}")
