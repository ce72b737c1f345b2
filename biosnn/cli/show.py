"""``biosnn show MODEL``: equations, parameters, initial values, events, presets; with
``--code c|numpy [--method M]`` the generated source of its kernel instead.
"""

from __future__ import annotations

import re

from biosnn.cli._common import UsageError, add_model_argument
from biosnn.names import printable

DESCRIPTION = (
    "Show a model's equations, parameters (with units), "
    "initial values, events, presets and reference."
)


def add_arguments(p) -> None:
    """``MODEL [--code c|numpy [--method M] [--no-runtime]]``."""
    add_model_argument(p)
    p.add_argument(
        "--code",
        choices=("c", "numpy"),
        help="print the generated source of the model's kernel instead (biosnn.kernel_source)",
    )
    p.add_argument(
        "--method",
        metavar="M",
        help="with --code: the method whose kernel to print (default rk4; the C driver "
        "family depends on it)",
    )
    p.add_argument(
        "--no-runtime",
        action="store_true",
        help="with --code c: leave out the C runtime files (one comment line each)",
    )


def _library_title(name: str) -> str:
    import biosnn

    return dict(biosnn.list_models()).get(name, "")


def _wrap(text: str, first: str = "", rest: str = "") -> list:
    import textwrap

    return textwrap.wrap(
        " ".join(text.split()),
        width=88,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
    )


def _with_unit(value: float, unit: str) -> str:
    return f"{value:.6g}" if unit == "1" else f"{value:.6g} {unit}"


def _paragraphs(text: str) -> list:
    """Wrapped lines of ``text`` with its own paragraph breaks (blank lines) kept and its
    control characters escaped (:func:`biosnn.names.printable`).
    """
    out = []
    for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip()):
        if paragraph.strip():
            out += ([""] if out else []) + _wrap(printable(paragraph.replace("\n", " ")))
    return out


def describe_model(model) -> str:
    """Text of ``biosnn show``: equations, parameters, initial values, events, presets.

    Free text of the file (description, reference, preset descriptions) is shown with
    its control characters escaped (ANSI escapes never reach the terminal raw) and its
    paragraph breaks (blank lines) kept; a single line break inside a paragraph is
    reflowed.
    """
    title = printable(_library_title(model.name))
    lines = [f"{model.name}" + (f" - {title}" if title else "")]
    if model.description.strip():
        lines += [""] + _paragraphs(model.description)
    # equations, parameters, events (the Model's own view)
    shown = printable(repr(model), keep_newlines=True)
    lines += ["", shown]
    if not any(line.startswith("initial") for line in shown.splitlines()):
        lines.append("initial values:")
        lines += [
            f"  {s} = {_with_unit(v, model.display_unit(s))}" for s, v in model.initial.items()
        ]
    lines.append(
        "time: dimensionless" if model.time_unit == "1" else f"time unit: {model.time_unit}"
    )
    if model.presets:
        lines.append("presets:")
        width = max(len(name) for name in model.presets)
        lines += [
            f"  {name:<{width}}  {printable(about)}".rstrip()
            for name, about in model.presets.items()
        ]
    if model.reference.strip():
        lines += _wrap(printable(model.reference), "reference: ", "  ")
    return "\n".join(lines)


def run(args, out) -> int:
    """Print :func:`describe_model` of ``MODEL``, or with ``--code`` its kernel source."""
    import biosnn

    code = getattr(args, "code", None)
    method = getattr(args, "method", None)
    no_runtime = getattr(args, "no_runtime", False)
    if code is None and (method is not None or no_runtime):
        raise UsageError("--method and --no-runtime go with --code c|numpy")
    model = biosnn.load_model(args.model)
    if code is None:
        print(describe_model(model), file=out)
        return 0
    source = biosnn.kernel_source(model, code, method or "rk4", runtime=not no_runtime)
    out.write(source if source.endswith("\n") else source + "\n")
    return 0
