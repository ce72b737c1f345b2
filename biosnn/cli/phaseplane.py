"""``biosnn phaseplane MODEL --x VAR --y VAR``: nullclines, fixed points, limit cycles."""

from __future__ import annotations

from biosnn.cli._common import (
    add_model_argument,
    add_parameter_arguments,
    assignment,
    finite_float,
    load_for_run,
    pyplot,
    save_figure,
    write_json,
)
from biosnn.jsonable import jsonable as _jsonable

DESCRIPTION = (
    "Phase plane of MODEL on the states VAR (x) and VAR (y): nullclines, "
    "fixed points with type and eigenvalues, manifolds of saddles, limit "
    "cycles.  Values and limits are in display units."
)


def add_arguments(p) -> None:
    """MODEL, --x, --y, --preset/--set, --fix, the window, output."""
    add_model_argument(p)
    p.add_argument("--x", required=True, metavar="VAR", help="state on the horizontal axis")
    p.add_argument("--y", required=True, metavar="VAR", help="state on the vertical axis")
    add_parameter_arguments(p)
    p.add_argument(
        "--fix",
        action="append",
        default=[],
        type=assignment,
        metavar="STATE=VALUE",
        help="hold another state at VALUE, or at its "
        "steady state with STATE=steady (repeatable; default: initial value)",
    )
    p.add_argument(
        "--xlim",
        nargs=2,
        type=finite_float,
        metavar=("A", "B"),
        help="window of x (default: from trajectories of the initial state)",
    )
    p.add_argument("--ylim", nargs=2, type=finite_float, metavar=("A", "B"), help="window of y")
    p.add_argument("--plot", metavar="FILE.png", help="write the phase-plane figure")
    p.add_argument("--out", metavar="FILE.json", help="write the phase plane as JSON")


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
    fig, ax = pyplot().subplots(figsize=(7, 5.6))
    pp.plot(ax=ax)
    save_figure(fig, path)


def run(args, out) -> int:
    """Compute the phase plane, print it, write ``--plot`` and ``--out``."""
    from biosnn.analysis.phaseplane import phase_plane

    model = load_for_run(args)
    pp = phase_plane(model, args.x, args.y, args.xlim, args.ylim, fixed=dict(args.fix))
    for line in _phaseplane_lines(pp):
        print(line, file=out)
    if args.plot:
        _plot_phase_plane(pp, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        write_json(_jsonable({"preset": args.preset, **pp.to_dict()}), args.out)
        print(f"wrote {args.out}", file=out)
    return 0
