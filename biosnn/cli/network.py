"""``biosnn network FILE``: build and run a network file, print spike counts and rates."""

from __future__ import annotations

from biosnn.cli._common import (
    UsageError,
    assignment,
    number_or_text,
    pyplot,
    save_figure,
    seed,
    write_json,
)
from biosnn.jsonable import jsonable as _jsonable

DESCRIPTION = (
    "Build and run the network of FILE (a library network such as cuba, "
    "coba, cobahh, synfire, or a .toml network file; a .py file that "
    "defines 'network' is run as Python code) and print per-population "
    "spike counts, rates and timings."
)


def add_arguments(p) -> None:
    """FILE, --duration, --backend, --seed, --set KEY=VALUE, output."""
    p.add_argument("file", metavar="FILE", help="library network name or network file")
    p.add_argument(
        "--duration",
        "-T",
        type=number_or_text,
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
        "--seed", type=seed, metavar="S", help="seed, 0 <= S < 2**64 (default: the file's)"
    )
    p.add_argument(
        "--set",
        dest="changes",
        action="append",
        default=[],
        type=assignment,
        metavar="KEY=VALUE",
        help="change a value of the file before building, "
        "e.g. --set populations.exc.n=800 (repeatable)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="write a raster and population rate")
    p.add_argument("--out", metavar="FILE.json", help="write the summary as JSON")


def _network_time(text, what):
    """A time of the network command in ms (``"100 ms"`` or a number in ms)."""
    from biosnn import units
    from biosnn.errors import UnitError

    given = number_or_text(text)
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

    pyplot()
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
    save_figure(fig, path, dpi=110)


def run(args, out) -> int:
    """Build and run the network, print the summary, write ``--plot`` and ``--out``."""
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
        write_json(doc, args.out)
        print(f"wrote {args.out}", file=out)
    return 0
