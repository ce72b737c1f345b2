"""The ``biosnn`` command: list, show and simulate library models; phase planes; the demo.

Usage (``biosnn --help``, ``biosnn COMMAND --help``; reference: docs/cli.md)::

    biosnn models
    biosnn show MODEL
    biosnn simulate MODEL --duration T [--preset P] [--set NAME=VALUE ...]
                    [--init STATE=VALUE ...] [--method M] [--dt DT] [--rtol R] [--atol A]
                    [--backend numpy|c|auto] [--n N] [--record VARS] [--seed S]
                    [--plot FILE.png] [--out FILE.json]
    biosnn phaseplane MODEL --x VAR --y VAR [--preset P] [--set NAME=VALUE ...]
                      [--fix STATE=VALUE|steady ...] [--xlim A B] [--ylim A B]
                      [--plot FILE.png] [--out FILE.json]
    biosnn bifurcation MODEL --param NAME --from A --to B [--preset P] [--set NAME=VALUE ...]
                       [--init STATE=VALUE ...] [--cycles] [--switch] [--plot FILE.png]
                       [--out FILE.json] [--param2 NAME --from2 A --to2 B [--plot2 FILE.png]]
    biosnn fi MODEL --param NAME --from A --to B [--points K] [--duration T] [--preset P]
              [--set NAME=VALUE ...] [--plot FILE.png] [--out FILE.json]
    biosnn network FILE [--duration T] [--backend numpy|c|auto] [--seed S]
                   [--set KEY=VALUE ...] [--plot FILE.png] [--out FILE.json]
    biosnn demo [--out DIR]

``MODEL`` is a library name (``biosnn models``) or the path of a model file.  Values
carry units (``--set I_ext="10 uA/cm**2"``, ``--duration "1000 ms"``); bare numbers are in
the display unit of the variable (times in ms, or in time units for dimensionless models).

Errors a user can cause (bad arguments, unknown model, bad model file, wrong units, a
failed run) print ONE line ``biosnn: error: ...`` on stderr and exit with status 2;
anything else is a bug and shows its traceback.

One module per command (``biosnn.cli.simulate``, ``.show``, ``.models``, ``.phaseplane``,
``.bifurcation``, ``.fi``, ``.network``, ``.demo``), each with ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args, out) -> int``; what they share (argument types,
``--preset``/``--set``, durations, JSON and figure output) is in ``biosnn.cli._common``.
This package assembles the parser and turns errors into exit statuses.  Start-up is
cheap: only the module of the command being run is imported, when its arguments are
parsed, and numpy, sympy and matplotlib are imported by the code that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from biosnn.cli._common import Parser as _Parser
from biosnn.cli._common import UsageError
from biosnn.names import printable

__all__ = ["main", "build_parser", "UsageError", "describe_model", "result_json", "plot_result"]

EXIT_USAGE = 2

#: The commands in the order of ``biosnn --help``: name -> one-line help.  Each is the
#: module ``biosnn.cli.<name>``.
COMMANDS = {
    "models": "list the model library",
    "show": "show a model: equations, parameters, presets",
    "simulate": "simulate a model and print a summary",
    "phaseplane": "phase plane of two states: nullclines, fixed points, cycles",
    "bifurcation": "continue equilibria in one parameter: folds, Hopf points",
    "fi": "f-I curve: firing rate against a parameter, rheobase, class",
    "network": "run a network file and print spike counts and rates",
    "demo": "run the demo (figure + JSON summary)",
}

#: Functions kept importable from ``biosnn.cli`` (loaded with their command's module).
_EXPORTS = {
    "describe_model": "show",
    "result_json": "simulate",
    "plot_result": "simulate",
    "network_json": "network",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(_command(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command(name: str):
    """The module of command ``name`` (imported on first use)."""
    return importlib.import_module(f"{__name__}.{name}")


class _CommandParser(_Parser):
    """The parser of one command: its description and arguments are added from the
    command's module the first time it parses or shows help, so that a run imports only
    the module of its own command.
    """

    def __init__(self, *args, command=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._command = command

    def _load(self) -> None:
        if self._command is not None:
            module, self._command = _command(self._command), None
            self.description = module.DESCRIPTION
            module.add_arguments(self)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        return super().parse_known_args(args, namespace)

    def format_usage(self):
        self._load()
        return super().format_usage()

    def format_help(self):
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``biosnn`` command (cheap: no heavy imports).

    A command's own arguments are added when it is parsed (or its help is shown).
    """
    from biosnn import __version__

    parser = _Parser(
        prog="biosnn",
        description="biosnn: biophysical neuron models with units - "
        "simulate library models from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"biosnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    sub.required = True
    for name, help_line in COMMANDS.items():
        sub.add_parser(name, help=help_line, command=name)
    return parser


def _one_line(error: BaseException) -> str:
    """The message of an error on one line."""
    text = str(error).strip() or type(error).__name__
    return printable(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at devnull so that exiting does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


#: Formats of the options that write files: option -> extensions (None: matplotlib's).
_OUTPUT_FORMATS = {"out": ("--out", {"json"}), "plot": ("--plot", None), "plot2": ("--plot2", None)}


def _check_outputs(args) -> None:
    """Check every output path and format before anything runs (docs/cli.md, "Output
    files"); ``demo --out DIR`` is checked by :func:`biosnn.demo.run_demo` first thing.
    """
    from biosnn._outputs import check_output_file, figure_formats

    seen = {}
    for attr, (option, formats) in _OUTPUT_FORMATS.items():
        path = getattr(args, attr, None)
        if path is None or (args.command == "demo" and attr == "out"):
            continue
        check_output_file(path, option, formats if formats is not None else figure_formats())
        key = os.path.abspath(path)
        if key in seen:
            raise UsageError(f"{seen[key]} and {option} name the same file {path!r}")
        seen[key] = option


def main(argv=None, *, out=None, err=None) -> int:
    """Run the ``biosnn`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).
    out, err : file, optional
        Where output and error messages go (default stdout / stderr).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage error or bad input (one line on ``err``),
        130 after Ctrl-C.  Warnings are printed as one line each, ``biosnn: warning: ...``.

    Examples
    --------
    >>> status = main(["models"])  # doctest: +ELLIPSIS
    adex             Adaptive exponential integrate-and-fire neuron (AdEx)
    ...
    >>> status
    0
    """
    import warnings

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"biosnn: warning: {_one_line(message)}", file=err)

    with warnings.catch_warnings():  # warnings as one line each, not file:line + source
        warnings.showwarning = one_line_warning
        return _main(argv, out, err)


def _main(argv, out, err) -> int:
    from biosnn.errors import BiosnnError

    try:
        args = build_parser().parse_args(argv)
        _check_outputs(args)
        return _command(args.command).run(args, out)
    except (UsageError, BiosnnError) as exc:
        print(f"biosnn: error: {_one_line(exc)}", file=err)
        return EXIT_USAGE
    except MemoryError as exc:  # an allocation no estimate foresaw
        print(f"biosnn: error: out of memory ({_one_line(exc)}); ask for a smaller run", file=err)
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("biosnn: interrupted", file=err)
        return 130
    except BrokenPipeError:  # `biosnn models | head -1`
        _silence_stdout()
        return 0
