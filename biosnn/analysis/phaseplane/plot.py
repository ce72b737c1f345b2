"""The figure of a :class:`~biosnn.analysis.phaseplane.PhasePlane` (matplotlib, lazily).

Conventions: x-nullcline solid blue, y-nullcline solid orange, direction field in light
grey (arrows of equal length) or streamlines; stable fixed points filled, unstable open,
saddles as open squares; unstable manifolds solid red, stable manifolds dashed green;
limit cycles thick purple (stable) or dotted (unstable), labelled with their period;
trajectories thin black with a dot at the initial condition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_phase_plane"]

_MARKERS = {
    "stable node": dict(marker="o", facecolor="k", edgecolor="k"),
    "stable focus": dict(marker="o", facecolor="k", edgecolor="k"),
    "unstable node": dict(marker="o", facecolor="white", edgecolor="k"),
    "unstable focus": dict(marker="o", facecolor="white", edgecolor="k"),
    "saddle": dict(marker="s", facecolor="white", edgecolor="k"),
    "centre": dict(marker="D", facecolor="0.6", edgecolor="k"),
    "degenerate": dict(marker="^", facecolor="0.6", edgecolor="k"),
}


def plot_phase_plane(pp, ax=None, *, streamlines=False, legend=True):
    """Draw ``pp`` on ``ax`` (default: a new figure); returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.2))
    _field(ax, pp, streamlines)
    _nullclines(ax, pp)
    _manifolds(ax, pp)
    _trajectories(ax, pp)
    _cycles(ax, pp)
    _fixed_points(ax, pp)
    ax.set_xlim(*pp.xlim)
    ax.set_ylim(*pp.ylim)
    ax.set_xlabel(pp.label(pp.x))
    ax.set_ylabel(pp.label(pp.y))
    ax.set_title(f"{pp.model}: phase plane")
    if legend:
        ax.legend(loc="best", fontsize="small", framealpha=0.85)
    return ax


def _field(ax, pp, streamlines):
    if not pp.field:
        return
    xx, yy, u, v = pp.field
    # draw in window-normalised coordinates so arrows point the way the flow looks
    su = u / (pp.xlim[1] - pp.xlim[0])
    sv = v / (pp.ylim[1] - pp.ylim[0])
    if streamlines:
        ax.streamplot(xx, yy, u, v, color="0.75", linewidth=0.6, density=1.2, arrowsize=0.8)
        return
    norm = np.hypot(su, sv)
    norm[~(norm > 0)] = np.inf
    length = 0.6 / max(xx.shape)  # arrow length, as a fraction of the window
    du = su / norm * length * (pp.xlim[1] - pp.xlim[0])
    dv = sv / norm * length * (pp.ylim[1] - pp.ylim[0])
    ax.quiver(
        xx,
        yy,
        du,
        dv,
        color="0.72",
        angles="xy",
        scale_units="xy",
        scale=1.0,
        pivot="mid",
        width=0.0025,
        headwidth=4,
        headlength=4,
        headaxislength=3.5,
        zorder=0,
    )


def _nullclines(ax, pp):
    for var, color in ((pp.x, "C0"), (pp.y, "C1")):
        label = f"d{var}/dt = 0"
        for k, line in enumerate(pp.nullclines[var]):
            ax.plot(line[:, 0], line[:, 1], color=color, lw=1.8, label=label if k == 0 else None)


def _manifolds(ax, pp):
    shown = set()
    for m in pp.manifolds:
        style = dict(color="C3", ls="-") if m.kind == "unstable" else dict(color="C2", ls="--")
        label = None if m.kind in shown else f"{m.kind} manifold"
        shown.add(m.kind)
        ax.plot(m.points[:, 0], m.points[:, 1], lw=1.2, label=label, **style)


def _cycles(ax, pp):
    for c in pp.cycles:
        pts = np.vstack([c.points, c.points[:1]])
        unit = "" if pp.units["t"] == "1" else f" {pp.units['t']}"
        kind = "stable" if c.stable else "unstable"
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            color="C4",
            lw=2.4 if c.stable else 1.6,
            ls="-" if c.stable else ":",
            label=f"{kind} limit cycle, T = {c.period:.4g}{unit}",
        )


def _trajectories(ax, pp):
    for k, tr in enumerate(pp.trajectories):
        pts = np.vstack([tr.backward[::-1], tr.forward])
        ax.plot(pts[:, 0], pts[:, 1], color="k", lw=0.8, label="trajectory" if k == 0 else None)
        ax.plot(*tr.start, "o", color="k", ms=3)
        if len(tr.forward) > 10:
            i = min(len(tr.forward) - 2, len(tr.forward) // 10)
            ax.annotate(
                "",
                xy=tr.forward[i + 1],
                xytext=tr.forward[i],
                arrowprops=dict(arrowstyle="->", color="k", lw=0.8),
            )


def _fixed_points(ax, pp):
    shown = set()
    for fp in pp.fixed_points:
        style = _MARKERS.get(fp.type, _MARKERS["degenerate"])
        label = None if fp.type in shown else fp.type
        shown.add(fp.type)
        ax.scatter(
            [fp.state[pp.x]],
            [fp.state[pp.y]],
            s=55,
            zorder=5,
            linewidths=1.3,
            marker=style["marker"],
            facecolors=style["facecolor"],
            edgecolors=style["edgecolor"],
            label=label,
        )
