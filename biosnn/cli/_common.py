"""What the commands of ``biosnn`` share: the usage error, argument types, common options,
loading a model with ``--preset``/``--set``, durations, JSON and figure output.

Cheap to import (``argparse``, ``math`` and :mod:`biosnn.names`): numpy, sympy and
matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import math


class UsageError(Exception):
    """A bad command line or bad input (printed as one line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- argument types ------------------------------------------------------------------------


def assignment(text: str) -> tuple:
    """``"NAME=VALUE"`` -> ``(NAME, VALUE)`` with VALUE a float or a string with a unit."""
    name, sep, given = text.partition("=")
    name, given = name.strip(), given.strip()
    if not sep or not name or not given:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, number_or_text(given)


def number_or_text(text):
    """A bare number as float (display unit), anything else as the string (with unit).

    ``nan``, ``inf`` and numbers beyond float range are refused: no option takes them.
    """
    if isinstance(text, float):
        number = text
    else:
        try:
            number = float(text)
        except ValueError:
            return text
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def whole_number(text: str) -> int:
    """A whole number (``int``)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    number = whole_number(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number


def seed(text: str) -> int:
    """A seed: a whole number with 0 <= seed < 2**64 (never silently reduced)."""
    number = whole_number(text)
    if not 0 <= number < 2**64:
        raise argparse.ArgumentTypeError(
            f"expected a whole number with 0 <= S < 2**64, got {text!r}"
        )
    return number


def finite_float(text: str) -> float:
    """A finite number (``float``)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def names(text: str) -> list:
    """Variable names separated by commas (or spaces)."""
    found = [n.strip() for n in text.replace(" ", ",").split(",") if n.strip()]
    if not found:
        raise argparse.ArgumentTypeError("expected variable names separated by commas")
    return found


# -- options shared by several commands ----------------------------------------------------


def add_model_argument(p) -> None:
    """The positional ``MODEL``."""
    p.add_argument("model", metavar="MODEL", help="library name or path of a model file")


def add_parameter_arguments(p, set_help: str = "set a parameter (repeatable)") -> None:
    """``--preset P`` and the repeatable ``--set NAME=VALUE`` (values with units)."""
    p.add_argument("--preset", metavar="P", help="named parameter set of the model")
    p.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        type=assignment,
        metavar="NAME=VALUE",
        help=set_help,
    )


def add_range_arguments(p, param_help: str, from_help: str, to_help: str) -> None:
    """--param NAME --from A --to B (values in display units, or with units)."""
    p.add_argument("--param", required=True, metavar="NAME", help=param_help)
    p.add_argument(
        "--from", dest="start", required=True, type=number_or_text, metavar="A", help=from_help
    )
    p.add_argument(
        "--to", dest="stop", required=True, type=number_or_text, metavar="B", help=to_help
    )


# -- running -------------------------------------------------------------------------------


def load_for_run(args):
    """The model of a command: library name or file, ``--preset``, ``--set`` values."""
    import biosnn

    model = biosnn.load_model(args.model, preset=args.preset)
    if args.params:
        model = model.with_params(**dict(args.params))
    return model


def model_time(model, text, what):
    """A duration given on the command line, in ms (or time units): float (None for None)."""
    if text is None:
        return None
    from biosnn.errors import ModelError

    given = number_or_text(text)
    if model.time_unit == "1" and isinstance(given, str):
        raise UsageError(
            f"{what}: model {model.name} has dimensionless time; give a plain number, not {text!r}"
        )
    try:
        number = float(model.time_to_internal(given))
    except ModelError as exc:  # the option is at fault, not the model file
        raise UsageError(f"{what}: {exc.message}") from None
    if not number > 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return number


# -- output --------------------------------------------------------------------------------


def write_json(doc, path) -> None:
    """Write ``doc`` (already JSON-able) to ``path``; a UsageError if it cannot be written."""
    import json

    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (the CLI never opens windows);
    call it before anything draws.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 120) -> None:
    """Lay out ``fig``, write it to ``path`` and close it; a UsageError if the file cannot
    be written.
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
