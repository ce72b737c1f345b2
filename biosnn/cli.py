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
anything else is a bug and shows its traceback.  Start-up is cheap: this module imports
only ``argparse``; numpy, sympy and matplotlib are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys

from biosnn.jsonable import jsonable as _jsonable
from biosnn.names import printable

__all__ = ["main", "build_parser", "UsageError", "describe_model", "result_json", "plot_result"]

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line or bad input (printed as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- argument parsing ------------------------------------------------------------------


def _assignment(text: str) -> tuple:
    """``"NAME=VALUE"`` -> ``(NAME, VALUE)`` with VALUE a float or a string with a unit."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, _value(value)


def _value(text):
    """A bare number as float (display unit), anything else as the string (with unit).

    ``nan``, ``inf`` and numbers beyond float range are refused: no option takes them.
    """
    if isinstance(text, float):
        value = text
    else:
        try:
            value = float(text)
        except ValueError:
            return text
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    """A seed: a whole number with 0 <= seed < 2**64 (never silently reduced)."""
    value = _int(text)
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(
            f"expected a whole number with 0 <= S < 2**64, got {text!r}"
        )
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _names(text: str) -> list:
    names = [n.strip() for n in text.replace(" ", ",").split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected variable names separated by commas")
    return names


def _add_model_argument(p) -> None:
    p.add_argument("model", metavar="MODEL", help="library name or path of a model file")


def _add_parameter_arguments(p, set_help: str = "set a parameter (repeatable)") -> None:
    """``--preset P`` and the repeatable ``--set NAME=VALUE`` (values with units)."""
    p.add_argument("--preset", metavar="P", help="named parameter set of the model")
    p.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        type=_assignment,
        metavar="NAME=VALUE",
        help=set_help,
    )


def _add_simulate_parser(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a model and print a summary",
        description="Simulate MODEL (a library name or a model file) and print a summary. "
        'Values carry units ("10 uA/cm**2", "1000 ms"); bare numbers are in '
        "the display unit (times in ms).",
    )
    _add_model_argument(p)
    p.add_argument(
        "--duration",
        "-T",
        required=True,
        type=_value,
        metavar="T",
        help='simulated time, e.g. "1000 ms" or 1000 (ms)',
    )
    _add_parameter_arguments(p)
    p.add_argument(
        "--init",
        action="append",
        default=[],
        type=_assignment,
        metavar="STATE=VALUE",
        help="initial value of a state (repeatable)",
    )
    p.add_argument(
        "--method",
        default="rk4",
        metavar="M",
        help="euler, midpoint, heun, rk4 (default), exponential_euler, exact, "
        "euler_maruyama, stochastic_heun, rk23, rk45, dop853, rodas4",
    )
    p.add_argument(
        "--dt", type=_value, metavar="DT", help="step of fixed-step methods (default: model's)"
    )
    p.add_argument("--rtol", type=_float, metavar="R", help="relative tolerance (adaptive)")
    p.add_argument("--atol", type=_float, metavar="A", help="absolute tolerance (adaptive)")
    p.add_argument(
        "--backend",
        choices=("numpy", "c", "auto"),
        default="auto",
        help="kernel backend (default: auto = C if a compiler works)",
    )
    p.add_argument(
        "--n",
        type=_positive_int,
        default=1,
        metavar="N",
        help="number of identical instances (default 1)",
    )
    p.add_argument(
        "--record",
        type=_names,
        metavar="VARS",
        help="variables to record, comma separated (default: all states)",
    )
    p.add_argument("--seed", type=_seed, metavar="S", help="seed of the noise (0 <= S < 2**64)")
    p.add_argument("--plot", metavar="FILE.png", help="write a figure of the recorded traces")
    p.add_argument("--out", metavar="FILE.json", help="write the result as JSON")


def _add_phaseplane_parser(sub) -> None:
    p = sub.add_parser(
        "phaseplane",
        help="phase plane of two states: nullclines, fixed points, cycles",
        description="Phase plane of MODEL on the states VAR (x) and VAR (y): nullclines, "
        "fixed points with type and eigenvalues, manifolds of saddles, limit "
        "cycles.  Values and limits are in display units.",
    )
    _add_model_argument(p)
    p.add_argument("--x", required=True, metavar="VAR", help="state on the horizontal axis")
    p.add_argument("--y", required=True, metavar="VAR", help="state on the vertical axis")
    _add_parameter_arguments(p)
    p.add_argument(
        "--fix",
        action="append",
        default=[],
        type=_assignment,
        metavar="STATE=VALUE",
        help="hold another state at VALUE, or at its "
        "steady state with STATE=steady (repeatable; default: initial value)",
    )
    p.add_argument(
        "--xlim",
        nargs=2,
        type=_float,
        metavar=("A", "B"),
        help="window of x (default: from trajectories of the initial state)",
    )
    p.add_argument("--ylim", nargs=2, type=_float, metavar=("A", "B"), help="window of y")
    p.add_argument("--plot", metavar="FILE.png", help="write the phase-plane figure")
    p.add_argument("--out", metavar="FILE.json", help="write the phase plane as JSON")


def _add_range_arguments(p, param_help: str, from_help: str, to_help: str) -> None:
    """--param NAME --from A --to B (values in display units, or with units)."""
    p.add_argument("--param", required=True, metavar="NAME", help=param_help)
    p.add_argument("--from", dest="start", required=True, type=_value, metavar="A", help=from_help)
    p.add_argument("--to", dest="stop", required=True, type=_value, metavar="B", help=to_help)


def _add_bifurcation_parser(sub) -> None:
    p = sub.add_parser(
        "bifurcation",
        help="continue equilibria in one parameter: folds, Hopf points",
        description="Continue the equilibria of MODEL in the parameter NAME from A to B "
        "(display units, or values with units) and locate folds, Hopf points "
        "(with the first Lyapunov coefficient and the period at onset) and "
        "branch points.  See docs/analysis.md.",
    )
    _add_model_argument(p)
    _add_range_arguments(
        p,
        "continuation parameter",
        "start of the parameter interval",
        "end of the parameter interval",
    )
    _add_parameter_arguments(p, "set another parameter (repeatable)")
    p.add_argument(
        "--init",
        action="append",
        default=[],
        type=_assignment,
        metavar="STATE=VALUE",
        help="guess of the equilibrium at A (repeatable)",
    )
    p.add_argument(
        "--cycles",
        action="store_true",
        help="also continue the periodic orbits born at each Hopf point "
        "(folds of cycles, period doubling, torus)",
    )
    p.add_argument(
        "--switch",
        action="store_true",
        help="also follow the other branch through each branch point and, with "
        "--cycles, the period-doubled orbits from each period doubling",
    )
    p.add_argument(
        "--param2",
        metavar="NAME",
        help="continue the fold and Hopf points found in a second parameter "
        "(fold and Hopf curves; cusp, Bogdanov-Takens, Bautin points)",
    )
    p.add_argument(
        "--from2", dest="start2", type=_value, metavar="A", help="start of the interval of --param2"
    )
    p.add_argument(
        "--to2", dest="stop2", type=_value, metavar="B", help="end of the interval of --param2"
    )
    p.add_argument("--plot2", metavar="FILE.png", help="write the two-parameter diagram")
    p.add_argument("--plot", metavar="FILE.png", help="write the bifurcation diagram")
    p.add_argument("--out", metavar="FILE.json", help="write the diagram as JSON")


def _add_fi_parser(sub) -> None:
    p = sub.add_parser(
        "fi",
        help="f-I curve: firing rate against a parameter, rheobase, class",
        description="Firing rate of MODEL against the parameter NAME at K values from A to "
        "B (display units, or values with units), all in one vectorized run; "
        "the rheobase and the excitability class (from the curve and from the "
        "onset bifurcation).  See docs/analysis.md.",
    )
    _add_model_argument(p)
    _add_range_arguments(p, "the varied parameter", "first value", "last value")
    p.add_argument(
        "--points",
        type=_positive_int,
        default=41,
        metavar="K",
        help="number of values (default 41, at least 2)",
    )
    p.add_argument(
        "--duration",
        "-T",
        default="1000",
        type=_value,
        metavar="T",
        help="simulated time per value (default 1000 ms or time units); the "
        "first fifth is discarded",
    )
    _add_parameter_arguments(p, "set another parameter (repeatable)")
    p.add_argument("--plot", metavar="FILE.png", help="write the f-I curve")
    p.add_argument("--out", metavar="FILE.json", help="write the curve as JSON")


def _add_network_parser(sub) -> None:
    p = sub.add_parser(
        "network",
        help="run a network file and print spike counts and rates",
        description="Build and run the network of FILE (a library network such as cuba, "
        "coba, cobahh, synfire, or a .toml network file; a .py file that "
        "defines 'network' is run as Python code) and print per-population "
        "spike counts, rates and timings.",
    )
    p.add_argument("file", metavar="FILE", help="library network name or network file")
    p.add_argument(
        "--duration",
        "-T",
        type=_value,
        metavar="T",
        help='simulated time, e.g. "1000 ms" or 1000 (ms); default: the file\'s',
    )
    p.add_argument(
        "--backend",
        choices=("numpy", "c", "auto"),
        default="auto",
        help="network engine (default: auto = C if a compiler works)",
    )
    p.add_argument(
        "--seed", type=_seed, metavar="S", help="seed, 0 <= S < 2**64 (default: the file's)"
    )
    p.add_argument(
        "--set",
        dest="changes",
        action="append",
        default=[],
        type=_assignment,
        metavar="KEY=VALUE",
        help="change a value of the file before building, "
        "e.g. --set populations.exc.n=800 (repeatable)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="write a raster and population rate")
    p.add_argument("--out", metavar="FILE.json", help="write the summary as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``biosnn`` command (cheap: no heavy imports)."""
    from biosnn import __version__

    parser = _Parser(
        prog="biosnn",
        description="biosnn: biophysical neuron models with units - "
        "simulate library models from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"biosnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    sub.add_parser(
        "models",
        help="list the model library",
        description="List the models of the library (name and title). "
        "Directories in $BIOSNN_MODEL_PATH are searched first; a "
        "model there shadows the library model of the same name, "
        "and the list says so.",
    )
    show = sub.add_parser(
        "show",
        help="show a model: equations, parameters, presets",
        description="Show a model's equations, parameters (with units), "
        "initial values, events, presets and reference.",
    )
    _add_model_argument(show)
    _add_simulate_parser(sub)
    _add_phaseplane_parser(sub)
    _add_bifurcation_parser(sub)
    _add_fi_parser(sub)
    _add_network_parser(sub)
    demo = sub.add_parser(
        "demo",
        help="run the demo (figure + JSON summary)",
        description="Simulate a few library models, run an f-I analysis "
        "and write demo.png and demo.json.",
    )
    demo.add_argument(
        "--out", default="out", metavar="DIR", help="output directory (default: ./out)"
    )
    return parser


# -- commands ------------------------------------------------------------------------------


def _cmd_models(args, out) -> int:
    import biosnn
    from biosnn.equations.files import shadowed_models

    models = biosnn.list_models()
    shadowed = {name: path for name, path, _ in shadowed_models()}
    width = max((len(name) for name, _ in models), default=0)
    for name, title in models:
        note = f"  [{shadowed[name]}, shadows the library's]" if name in shadowed else ""
        print(printable(f"{name:<{width}}  {title}{note}"), file=out)
    return 0


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


def _cmd_show(args, out) -> int:
    import biosnn

    print(describe_model(biosnn.load_model(args.model)), file=out)
    return 0


def _load_for_run(args):
    """The model of ``biosnn simulate``: library name or file, preset, ``--set`` values."""
    import biosnn

    model = biosnn.load_model(args.model, preset=args.preset)
    if args.params:
        model = model.with_params(**dict(args.params))
    return model


def _time(model, text, what):
    """A duration given on the command line, in ms (or time units): float."""
    if text is None:
        return None
    from biosnn.errors import ModelError

    given = _value(text)
    if model.time_unit == "1" and isinstance(given, str):
        raise UsageError(
            f"{what}: model {model.name} has dimensionless time; give a plain number, not {text!r}"
        )
    try:
        value = float(model.time_to_internal(given))
    except ModelError as exc:  # the option is at fault, not the model file
        raise UsageError(f"{what}: {exc.message}") from None
    if not value > 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


def _check_tolerances(args) -> None:
    """Adaptive and stiff methods need --rtol and --atol: say what to type."""
    from biosnn.solvers.request import ADAPTIVE, STIFF

    if args.method in ADAPTIVE + STIFF and (args.rtol is None or args.atol is None):
        raise UsageError(
            f"--method {args.method} chooses its own steps and needs explicit "
            "tolerances, e.g. --rtol 1e-6 --atol 1e-9"
        )


def _simulate(model, args):
    """Run ``biosnn.simulate`` with the command-line options."""
    import biosnn

    _check_tolerances(args)
    duration = _time(model, args.duration, "--duration")
    dt = _time(model, args.dt, "--dt")
    return biosnn.simulate(
        model,
        duration,
        method=args.method,
        dt=dt,
        rtol=args.rtol,
        atol=args.atol,
        backend=args.backend,
        n=args.n,
        init=dict(args.init) or None,
        record=args.record,
        seed=args.seed,
    )


def result_json(model, result, args) -> dict:
    """The ``--out`` document: spike times, final state, units, stats (+ traces if recorded)."""
    doc = {
        "model": model.name,
        "preset": args.preset,
        "params": {name: value for name, value in args.params},
        "init": {name: value for name, value in args.init},
        "duration": _time(model, args.duration, "--duration"),
        "time_unit": model.time_unit,
        "method": args.method,
        "n": args.n,
        "spike_times": [list(map(float, s)) for s in result.spikes],
        "final_state": {k: list(map(float, v)) for k, v in result.final_state.items()},
        "units": dict(result.units),
        "stats": dict(result.stats),
    }
    if args.record:
        doc["t"] = result.t
        doc["traces"] = {name: result[name] for name in args.record}
    return _jsonable(doc)


def _write_json(doc, path) -> None:
    import json

    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (the CLI never opens windows);
    call it before anything draws.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path, dpi: int = 120) -> None:
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


def plot_result(model, result, variables, path, title="") -> None:
    """Write a figure of the recorded ``variables`` (one panel each) to ``path``."""
    plt = _pyplot()
    variables = list(variables)[:6]
    fig, axes = plt.subplots(
        len(variables), 1, sharex=True, squeeze=False, figsize=(8, 1.8 + 1.6 * len(variables))
    )
    for ax, name in zip(axes[:, 0], variables):
        trace = result[name]
        for row in trace[:10]:
            ax.plot(result.t, row, lw=0.8)
        unit = result.units.get(name, model.display_unit(name))
        ax.set_ylabel(name if unit == "1" else f"{name} ({unit})")
    axes[-1, 0].set_xlabel("t" if model.time_unit == "1" else "t (ms)")
    axes[0, 0].set_title(title)
    _save_figure(fig, path, dpi=110)


def _summary(model, result, args) -> list:
    """Lines printed after a run."""
    duration = _time(model, args.duration, "--duration")
    unit = model.time_unit
    stats = dict(result.stats)
    span = f"{duration:g} time units" if unit == "1" else f"{duration:g} {unit}"
    lines = [
        f"{model.name}: {span}, method {stats.get('method', args.method)}, "
        f"backend {stats.get('backend', args.backend)}, n = {args.n}"
    ]
    counts = [len(s) for s in result.spikes]
    if model.layout.threshold is not None:  # the layout: no sympy on a warm start
        if len(counts) == 1:
            rate = f" ({1000.0 * counts[0] / duration:.4g} Hz)" if unit == "ms" else ""
            lines.append(f"spikes: {counts[0]}{rate}")
        else:
            lines.append(
                f"spikes per instance: min {min(counts)}, mean "
                f"{sum(counts) / len(counts):.4g}, max {max(counts)}"
            )
    final = ", ".join(
        f"{k} = {float(v[0]):.6g}"
        + (f" {result.units.get(k, '')}" if result.units.get(k, "1") != "1" else "")
        for k, v in result.final_state.items()
    )
    lines.append(f"final state{' (instance 0)' if args.n > 1 else ''}: {final}")
    if "n_steps" in stats:
        lines.append(f"steps: {stats['n_steps']}")
    return lines


def _cmd_simulate(args, out) -> int:
    model = _load_for_run(args)
    result = _simulate(model, args)
    for line in _summary(model, result, args):
        print(line, file=out)
    if args.plot:
        variables = args.record or list(model.states)
        plot_result(model, result, variables, args.plot, title=model.name)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        _write_json(result_json(model, result, args), args.out)
        print(f"wrote {args.out}", file=out)
    return 0


def _phaseplane_lines(pp) -> list:
    """Lines printed by ``biosnn phaseplane``: window, fixed points, limit cycles."""
    lines = [
        f"{pp.model}: phase plane of {pp.label(pp.x)} in [{pp.xlim[0]:.6g}, "
        f"{pp.xlim[1]:.6g}], {pp.label(pp.y)} in [{pp.ylim[0]:.6g}, {pp.ylim[1]:.6g}]",
        f"fixed points: {len(pp.fixed_points)}",
    ]
    for fp in pp.fixed_points:
        where = ", ".join(f"{v} = {fp.state[v]:.6g}" for v in (pp.x, pp.y))
        eig = ", ".join(
            f"{z.real:.4g}{z.imag:+.4g}i" if z.imag else f"{z.real:.4g}" for z in fp.eigenvalues
        )
        lines.append(f"  {where}: {fp.type} (eigenvalues {eig})")
    unit = "" if pp.units["t"] == "1" else f" {pp.units['t']}"
    lines.append(f"limit cycles: {len(pp.cycles)}")
    lines += [
        f"  period {c.period:.6g}{unit} ({'stable' if c.stable else 'unstable'})" for c in pp.cycles
    ]
    return lines


def _plot_phase_plane(pp, path) -> None:
    fig, ax = _pyplot().subplots(figsize=(7, 5.6))
    pp.plot(ax=ax)
    _save_figure(fig, path)


def _cmd_phaseplane(args, out) -> int:
    from biosnn.analysis.phaseplane import phase_plane

    model = _load_for_run(args)
    pp = phase_plane(model, args.x, args.y, args.xlim, args.ylim, fixed=dict(args.fix))
    for line in _phaseplane_lines(pp):
        print(line, file=out)
    if args.plot:
        _plot_phase_plane(pp, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        _write_json(_jsonable({"preset": args.preset, **pp.to_dict()}), args.out)
        print(f"wrote {args.out}", file=out)
    return 0


def _check_two_parameter(model, args) -> None:
    """``--param2 NAME --from2 A --to2 B``: all or none, a parameter, values in its unit
    (checked before the first continuation runs).
    """
    given = [args.start2 is not None, args.stop2 is not None]
    if args.param2 is None:
        if any(given) or args.plot2:
            raise UsageError("--from2, --to2 and --plot2 need --param2")
        return
    if not all(given):
        raise UsageError("--param2 needs --from2 A --to2 B")
    model._check_param(args.param2)
    for value in (args.start2, args.stop2):
        model.to_internal(args.param2, value)


def _two_parameter(model, diagram, args, out):
    """``--param2``: continue the fold and Hopf points of ``diagram`` (None without it)."""
    if args.param2 is None:
        return None
    from biosnn.analysis.codim2 import two_parameter_diagram

    two = two_parameter_diagram(
        model, diagram, args.param2, args.start2, args.stop2, params=dict(args.params)
    )
    print(repr(two), file=out)
    if args.plot2:
        _pyplot()
        _save_figure(two.plot().figure, args.plot2)
        print(f"wrote {args.plot2}", file=out)
    return two


def _cmd_bifurcation(args, out) -> int:
    import biosnn
    from biosnn.analysis.continuation import continue_equilibria

    model = biosnn.load_model(args.model, preset=args.preset)
    _check_two_parameter(model, args)
    diagram = continue_equilibria(
        model,
        args.param,
        args.start,
        args.stop,
        params=dict(args.params),
        init=dict(args.init) or None,
    )
    print(repr(diagram), file=out)
    switched = []  # (branch point, the other branch through it)
    if args.switch:
        for bp in diagram.special("bp"):
            switched.append((bp, diagram.switch(bp)))
            print(f"switched at {bp.param:.8g}: {switched[-1][1]!r}", file=out)
    branches, sources = _cycle_branches(model, [diagram] + [d for _, d in switched], args, out)
    two = _two_parameter(model, diagram, args, out)
    if args.plot:
        _pyplot()
        ax = diagram.plot()
        for _, other in switched:
            other.plot(ax=ax, color="tab:blue")
        for branch in branches:
            branch.plot(ax=ax)
        _save_figure(ax.figure, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        data = {"preset": args.preset, **diagram.to_dict()}
        if two is not None:
            data.update(
                param2=two.param2,
                curves=[c.to_dict() for c in two.curves],
                codim2=[p.to_dict() for p in two.codim2],
            )
        if args.switch:
            data["switched"] = [
                dict(other.to_dict(), source=bp.to_dict()) for bp, other in switched
            ]
            # the branch point where a branch was switched is already listed
            data["special_points"] += [
                dict(sp.to_dict(), switched=k)
                for k, (bp, other) in enumerate(switched)
                for sp in other.special_points
                if not (
                    sp.type == "bp" and abs(sp.param - bp.param) <= 1e-9 * max(abs(bp.param), 1.0)
                )
            ]
        if args.cycles:
            data["cycles"] = [
                dict(branch.to_dict(), source=source) for branch, source in zip(branches, sources)
            ]
            data["special_points"] += [
                dict(sp.to_dict(), branch=k)
                for k, branch in enumerate(branches)
                for sp in branch.special_points
            ]
        _write_json(_jsonable(data), args.out)
        print(f"wrote {args.out}", file=out)
    return 0


def _cycle_branches(model, diagrams, args, out):
    """``--cycles`` (and ``--switch``): the cycle branches and where each starts.

    One branch per Hopf point of the diagrams (a Hopf point already reached as the end
    of an earlier branch is skipped); with ``--switch`` also the period-doubled branch of
    each period doubling on them.  Returns (branches, sources): each source is a dict
    naming the starting point (``{"type": "hopf", "param": ...}`` or ``{"type": "pd",
    "param": ..., "branch": k}`` with ``k`` the index of the period-1 branch).
    """
    if not args.cycles:
        return [], []
    from biosnn.analysis.cycles import continue_cycles

    branches, sources = [], []
    for d in diagrams:
        for hopf in d.special("hopf"):
            if any(
                br.end_param is not None
                and abs(br.end_param - hopf.param) <= 1e-4 * max(abs(hopf.param), 1.0)
                for br in branches
            ):
                continue  # already reached as the end of an earlier branch
            if any(src["type"] == "hopf" and src["param"] == hopf.param for src in sources):
                continue  # the same Hopf point on a switched branch
            branches.append(
                continue_cycles(
                    model,
                    hopf,
                    args.param,
                    params=dict(args.params),
                    start=args.start,
                    stop=args.stop,
                )
            )
            sources.append({"type": "hopf", "param": hopf.param})
            print(repr(branches[-1]), file=out)
    if args.switch:
        for k in range(len(branches)):
            for pd in branches[k].special("pd"):
                branches.append(branches[k].switch(pd))
                sources.append({"type": "pd", "param": pd.param, "branch": k})
                print(f"period doubling at {pd.param:.8g}: {branches[-1]!r}", file=out)
    return branches, sources


def _cmd_fi(args, out) -> int:
    import numpy as np

    from biosnn.analysis.excitability import fi_curve

    model = _load_for_run(args)
    model._check_param(args.param)
    if args.points < 2:
        raise UsageError("--points must be at least 2")
    from biosnn._memory import check_memory

    # the values, then one instance each: parameters, states and the driver's work arrays
    # (simulate() checks its run again, but np.linspace would allocate first)
    from biosnn.solvers.simulate import WORK_ARRAYS_PER_STATE

    per_point = 8 * (1 + len(model.params) + WORK_ARRAYS_PER_STATE * len(model.states))
    check_memory(per_point * args.points, f"--points {args.points}", "use fewer points")
    a, b = (
        float(model.from_internal(args.param, model.to_internal(args.param, v)))
        for v in (args.start, args.stop)
    )
    if not a < b:
        raise UsageError(f"--from must be below --to, got {args.start!r} and {args.stop!r}")
    duration = _time(model, args.duration, "--duration")
    curve = fi_curve(model, args.param, np.linspace(a, b, args.points), duration)
    print(repr(curve), file=out)
    if args.plot:
        _pyplot()
        _save_figure(curve.plot().figure, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        _write_json(
            _jsonable(
                {
                    "preset": args.preset,
                    "params": {name: value for name, value in args.params},
                    **curve.to_dict(),
                }
            ),
            args.out,
        )
        print(f"wrote {args.out}", file=out)
    return 0


def _network_time(text, what):
    """A time of the network command in ms (``"100 ms"`` or a number in ms)."""
    from biosnn import units
    from biosnn.errors import UnitError

    given = _value(text)
    if isinstance(given, float):
        value = given
    else:
        try:
            value, dim, _ = units.parse_quantity(given)
        except UnitError as exc:
            raise UsageError(f"{what} {text!r}: {exc.message}") from None
        if dim != units.TIME():
            raise UsageError(f"{what} must be a time such as '100 ms', not {text!r}")
    if not value > 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return float(value)


def _change_value(value):
    """``--set`` values: whole numbers stay integers (sizes, counts)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def network_json(net, info, duration, timings) -> dict:
    """The ``biosnn network`` summary: populations' spikes and rates, synapses, timings."""
    pops = {}
    for name, mon in info.spike_monitors.items():
        n = mon.source.n
        count = int(mon.n)
        pops[name] = {
            "n": int(n),
            "spikes": count,
            "rate_hz": count / (n * duration * 1e-3) if duration > 0 else 0.0,
        }
    syn = {}
    for g, s in enumerate(net.synapses):
        arrays = [
            net.arrays[k]
            for k in net.arrays
            if k[:2] in ("PO", "SV", "IP", "DP", "DL") and k[2:] == str(g)
        ]
        nsyn = int(net.arrays[f"PO{g}"].size)
        syn[s.name] = {
            "n": nsyn,
            "bytes_per_synapse": (sum(a.nbytes for a in arrays) / nsyn) if nsyn else 0.0,
        }
    return _jsonable(
        {
            "network": info.name,
            "duration_ms": duration,
            "dt_ms": net.dt,
            "seed": net.seed,
            "backend": net.stats.get("backend"),
            "populations": pops,
            "timings": timings,
            "synapses": syn,
        }
    )


def _plot_network(info, duration, path) -> None:
    """Raster of every monitored population (stacked) above the total population rate."""
    import numpy as np

    _pyplot()
    from biosnn.spikes import raster_plot

    idx, times, offset, ticks = [], [], 0, []
    for name, mon in info.spike_monitors.items():
        idx.append(mon.i + offset)
        times.append(mon.t)
        ticks.append((offset + mon.source.n / 2, name))
        offset += mon.source.n
    data = (
        np.concatenate(idx) if idx else np.zeros(0, int),
        np.concatenate(times) if times else np.zeros(0),
    )
    bin_ms = max(0.1, duration / 500)
    fig = raster_plot(
        data,
        t_stop=duration,
        n=max(offset, 1),
        bin=bin_ms,
        title=info.title or info.name,
        markersize=1.0,
    )
    ax = fig.axes[0]
    if ticks:
        ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks])
    _save_figure(fig, path, dpi=110)


def _cmd_network(args, out) -> int:
    import time

    from biosnn.network.files import read_network

    t0 = time.perf_counter()
    duration = None if args.duration is None else _network_time(args.duration, "--duration")
    changes = {k: _change_value(v) for k, v in args.changes}
    net, info = read_network(
        args.file, duration=duration, seed=args.seed, backend=args.backend, changes=changes or None
    )
    if info.duration is None:
        raise UsageError(
            f'{args.file} gives no duration; add --duration, e.g. --duration "1000 ms"'
        )
    net.run(info.duration)
    total = time.perf_counter() - t0
    timings = {
        "build_s": net.stats["build_s"],
        "compile_s": net.stats["compile_s"],
        "run_s": net.stats["run_s"],
        "total_s": total,
    }
    doc = network_json(net, info, info.duration, timings)
    print(
        f"{info.name}: {info.duration:g} ms, dt {net.dt:g} ms, seed {net.seed}, "
        f"backend {doc['backend']}",
        file=out,
    )
    width = max((len(n) for n in doc["populations"]), default=0)
    for name, pop in doc["populations"].items():
        print(
            f"  {name:<{width}}  n = {pop['n']:<7d} spikes = {pop['spikes']:<9d} "
            f"rate = {pop['rate_hz']:.4g} Hz",
            file=out,
        )
    print(f"synapses: {sum(s['n'] for s in doc['synapses'].values())}", file=out)
    print(
        "time: build {build_s:.3g} s, compile {compile_s:.3g} s, run {run_s:.3g} s, "
        "total {total_s:.3g} s".format(**timings),
        file=out,
    )
    if args.plot:
        _plot_network(info, info.duration, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        _write_json(doc, args.out)
        print(f"wrote {args.out}", file=out)
    return 0


def _cmd_demo(args, out) -> int:
    from biosnn.demo import run_demo

    run_demo(args.out, out=out)
    return 0


_COMMANDS = {
    "models": _cmd_models,
    "show": _cmd_show,
    "simulate": _cmd_simulate,
    "phaseplane": _cmd_phaseplane,
    "bifurcation": _cmd_bifurcation,
    "fi": _cmd_fi,
    "demo": _cmd_demo,
    "network": _cmd_network,
}


def _one_line(error: BaseException) -> str:
    """The message of an error on one line."""
    text = str(error).strip() or type(error).__name__
    return printable(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at devnull so that exiting does not fail again."""
    import os

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
    >>> main(["models"])  # doctest: +SKIP
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
        return _COMMANDS[args.command](args, out)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
