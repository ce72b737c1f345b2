"""``biosnn models``: list the model library (name and title)."""

from __future__ import annotations

from biosnn.names import printable

DESCRIPTION = (
    "List the models of the library (name and title). "
    "Directories in $BIOSNN_MODEL_PATH are searched first; a "
    "model there shadows the library model of the same name, "
    "and the list says so."
)


def add_arguments(p) -> None:
    """``biosnn models`` takes no arguments."""


def run(args, out) -> int:
    """List the library, marking models of ``$BIOSNN_MODEL_PATH`` that shadow one."""
    import biosnn
    from biosnn.equations.files import shadowed_models

    models = biosnn.list_models()
    shadowed = {name: path for name, path, _ in shadowed_models()}
    width = max((len(name) for name, _ in models), default=0)
    for name, title in models:
        note = f"  [{shadowed[name]}, shadows the library's]" if name in shadowed else ""
        print(printable(f"{name:<{width}}  {title}{note}"), file=out)
    return 0
