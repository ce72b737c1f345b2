"""``biosnn simulate MODEL --duration T``: run a model and print a summary."""

from __future__ import annotations

from biosnn.cli._common import (
    UsageError,
    add_model_argument,
    add_parameter_arguments,
    assignment,
    finite_float,
    load_for_run,
    model_time,
    names,
    number_or_text,
    positive_int,
    pyplot,
    save_figure,
    seed,
    write_json,
)
from biosnn.jsonable import jsonable as _jsonable

DESCRIPTION = (
    "Simulate MODEL (a library name or a model file) and print a summary. "
    'Values carry units ("10 uA/cm**2", "1000 ms"); bare numbers are in '
    "the display unit (times in ms)."
)


def add_arguments(p) -> None:
    """MODEL, --duration, --preset/--set, --init, solver, instances, recording, output."""
    add_model_argument(p)
    p.add_argument(
        "--duration",
        "-T",
        required=True,
        type=number_or_text,
        metavar="T",
        help='simulated time, e.g. "1000 ms" or 1000 (ms)',
    )
    add_parameter_arguments(p)
    p.add_argument(
        "--init",
        action="append",
        default=[],
        type=assignment,
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
        "--dt",
        type=number_or_text,
        metavar="DT",
        help="step of fixed-step methods (default: 0.01 ms; 0.01 for a model without time units)",
    )
    p.add_argument("--rtol", type=finite_float, metavar="R", help="relative tolerance (adaptive)")
    p.add_argument("--atol", type=finite_float, metavar="A", help="absolute tolerance (adaptive)")
    p.add_argument(
        "--backend",
        choices=("numpy", "c", "auto"),
        default="auto",
        help="kernel backend (default: auto = C if a compiler works)",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        default=1,
        metavar="N",
        help="number of identical instances (default 1)",
    )
    p.add_argument(
        "--record",
        type=names,
        metavar="VARS",
        help="variables to record, comma separated (default: all states)",
    )
    p.add_argument("--seed", type=seed, metavar="S", help="seed of the noise (0 <= S < 2**64)")
    p.add_argument("--plot", metavar="FILE.png", help="write a figure of the recorded traces")
    p.add_argument("--out", metavar="FILE.json", help="write the result as JSON")


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
    duration = model_time(model, args.duration, "--duration")
    dt = model_time(model, args.dt, "--dt")
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
        "duration": model_time(model, args.duration, "--duration"),
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


def plot_result(model, result, variables, path, title="") -> None:
    """Write a figure of the recorded ``variables`` (one panel each) to ``path``."""
    plt = pyplot()
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
    save_figure(fig, path, dpi=110)


def _summary(model, result, args) -> list:
    """Lines printed after a run."""
    duration = model_time(model, args.duration, "--duration")
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


def run(args, out) -> int:
    """Simulate, print the summary, write ``--plot`` and ``--out``."""
    model = load_for_run(args)
    result = _simulate(model, args)
    for line in _summary(model, result, args):
        print(line, file=out)
    if args.plot:
        variables = args.record or list(model.states)
        plot_result(model, result, variables, args.plot, title=model.name)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        write_json(result_json(model, result, args), args.out)
        print(f"wrote {args.out}", file=out)
    return 0
