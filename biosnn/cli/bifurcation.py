"""``biosnn bifurcation MODEL --param NAME --from A --to B``: equilibria continued in one
parameter (folds, Hopf and branch points); with ``--cycles`` the periodic orbits born at
Hopf points, with ``--switch`` the other branches, with ``--param2`` the fold and Hopf
curves in two parameters.
"""

from __future__ import annotations

from biosnn.cli._common import (
    UsageError,
    add_model_argument,
    add_parameter_arguments,
    add_range_arguments,
    assignment,
    number_or_text,
    pyplot,
    save_figure,
    write_json,
)
from biosnn.jsonable import jsonable as _jsonable

DESCRIPTION = (
    "Continue the equilibria of MODEL in the parameter NAME from A to B "
    "(display units, or values with units) and locate folds, Hopf points "
    "(with the first Lyapunov coefficient and the period at onset) and "
    "branch points.  See docs/analysis.md."
)


def add_arguments(p) -> None:
    """MODEL, the range, --preset/--set, --init, --cycles, --switch, --param2, output."""
    add_model_argument(p)
    add_range_arguments(
        p,
        "continuation parameter",
        "start of the parameter interval",
        "end of the parameter interval",
    )
    add_parameter_arguments(p, "set another parameter (repeatable)")
    p.add_argument(
        "--init",
        action="append",
        default=[],
        type=assignment,
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
        "--from2",
        dest="start2",
        type=number_or_text,
        metavar="A",
        help="start of the interval of --param2",
    )
    p.add_argument(
        "--to2",
        dest="stop2",
        type=number_or_text,
        metavar="B",
        help="end of the interval of --param2",
    )
    p.add_argument("--plot2", metavar="FILE.png", help="write the two-parameter diagram")
    p.add_argument("--plot", metavar="FILE.png", help="write the bifurcation diagram")
    p.add_argument("--out", metavar="FILE.json", help="write the diagram as JSON")


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
        pyplot()
        save_figure(two.plot().figure, args.plot2)
        print(f"wrote {args.plot2}", file=out)
    return two


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


def _diagram_json(args, diagram, switched, branches, sources, two) -> dict:
    """The ``--out`` document: the diagram, switched branches, cycles, two-parameter curves."""
    data = {"preset": args.preset, **diagram.to_dict()}
    if two is not None:
        data.update(
            param2=two.param2,
            curves=[c.to_dict() for c in two.curves],
            codim2=[p.to_dict() for p in two.codim2],
        )
    if args.switch:
        data["switched"] = [dict(other.to_dict(), source=bp.to_dict()) for bp, other in switched]
        # the branch point where a branch was switched is already listed
        data["special_points"] += [
            dict(sp.to_dict(), switched=k)
            for k, (bp, other) in enumerate(switched)
            for sp in other.special_points
            if not (sp.type == "bp" and abs(sp.param - bp.param) <= 1e-9 * max(abs(bp.param), 1.0))
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
    return _jsonable(data)


def run(args, out) -> int:
    """Continue, print every branch found, write ``--plot``, ``--plot2`` and ``--out``."""
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
        pyplot()
        ax = diagram.plot()
        for _, other in switched:
            other.plot(ax=ax, color="tab:blue")
        for branch in branches:
            branch.plot(ax=ax)
        save_figure(ax.figure, args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.out:
        write_json(_diagram_json(args, diagram, switched, branches, sources, two), args.out)
        print(f"wrote {args.out}", file=out)
    return 0
