"""``biosnn fi MODEL --param NAME --from A --to B``: f-I curve, rheobase, class."""

from __future__ import annotations

from biosnn.cli._common import (
    UsageError,
    add_model_argument,
    add_parameter_arguments,
    add_range_arguments,
    load_for_run,
    model_time,
    number_or_text,
    positive_int,
    pyplot,
    save_figure,
    write_json,
)
from biosnn.jsonable import jsonable as _jsonable

DESCRIPTION = (
    "Firing rate of MODEL against the parameter NAME at K values from A to "
    "B (display units, or values with units), all in one vectorized run; "
    "the rheobase and the excitability class (from the curve and from the "
    "onset bifurcation).  See docs/analysis.md."
)


def add_arguments(p) -> None:
    """MODEL, the range, --points, --duration, --preset/--set, output."""
    add_model_argument(p)
    add_range_arguments(p, "the varied parameter", "first value", "last value")
    p.add_argument(
        "--points",
        type=positive_int,
        default=41,
        metavar="K",
        help="number of values (default 41, at least 2)",
    )
    p.add_argument(
        "--duration",
        "-T",
        default="1000",
        type=number_or_text,
        metavar="T",
        help="simulated time per value (default 1000 ms or time units); the "
        "first fifth is discarded",
    )
    add_parameter_arguments(p, "set another parameter (repeatable)")
    p.add_argument("--plot", metavar="FILE.png", help="write the f-I curve")
    p.add_argument("--out", metavar="FILE.json", help="write the curve as JSON")


def run(args, out) -> int:
    """Check the range and its memory, compute the curve, print it, write the outputs."""
    import numpy as np

    from biosnn.analysis.excitability import fi_curve

    model = load_for_run(args)
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
    duration = model_time(model, args.duration, "--duration")
    curve = fi_curve(model, args.param, np.linspace(a, b, args.points), duration)
    print(repr(curve), file=out)
    if args.plot:
        pyplot()
        save_figure(curve.plot().figure, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        write_json(
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
