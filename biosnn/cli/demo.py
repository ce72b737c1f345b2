"""``biosnn demo``: a few library models, an f-I analysis, demo.png and demo.json."""

from __future__ import annotations

DESCRIPTION = "Simulate a few library models, run an f-I analysis and write demo.png and demo.json."


def add_arguments(p) -> None:
    """``--out DIR``."""
    p.add_argument("--out", default="out", metavar="DIR", help="output directory (default: ./out)")


def run(args, out) -> int:
    """Run :func:`biosnn.demo.run_demo` into ``--out``."""
    from biosnn.demo import run_demo

    run_demo(args.out, out=out)
    return 0
