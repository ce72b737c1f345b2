"""One-parameter continuation of equilibria, with fold, Hopf and branch-point detection.

:func:`continue_equilibria` follows a branch of equilibria ``f(y, lam) = 0`` of a Model in
one parameter ``lam`` by pseudo-arclength continuation (Keller): an Euler predictor along
the tangent, then Newton's method on ``f = 0`` plus the arclength hyperplane, with the
exact Jacobian of the model's kernel and the exact ``d f / d lam`` printed from the sympy
right-hand side.  It works in scaled coordinates (each state divided by
``max(|y0|, 1)``, the parameter by the length of the interval), adapts the step to the
number of Newton iterations and to the turning angle of the tangent, and passes folds.

Along the branch three test functions are watched (Govaerts, *Numerical methods for
bifurcations of dynamical equilibria*, 2000; as in MatCont):

* fold (limit point, ``"fold"``): the parameter component of the tangent;
* Hopf (``"hopf"``): ``prod_{i<j} (mu_i + mu_j)`` over the eigenvalues (the bialternate
  product's determinant); a zero with a real pair ``mu, -mu`` is a neutral saddle and is
  not reported;
* branch point (``"bp"``): ``det([f_y f_lam; tangent])``.

A sign change between two points is located by the Illinois (modified regula falsi)
method on the arclength of the step, each trial point corrected onto the branch, to
``1e-12`` of the step: the parameter value is accurate to the corrector's tolerance.  At a
Hopf point the first Lyapunov coefficient ``l1`` is computed with Kuznetsov's formula
(*Elements of Applied Bifurcation Theory*, 3rd ed., eq. (3.20)) from the exact second and
third derivatives of the right-hand side (sympy, printed as kernels)::

    l1 = Re[<p, C(q,q,qb)> - 2 <p, B(q, A^-1 B(q,qb))> + <p, B(qb, (2iw - A)^-1 B(q,q))>] / (2w)

with ``A q = i w q``, ``A^T p = -i w p``, ``<q, q> = 1``, ``<p, q> = 1`` (``<a, b> =
conj(a).b``; the normalisation of MatCont).  ``l1 < 0``: supercritical (a stable cycle is
born); ``l1 > 0``: subcritical.  Its value is in internal units (states in mV, ..., time
in ms); its sign is what matters.  The period at onset is ``2 pi / w``.

At a branch point, :meth:`BifurcationDiagram.switch` (or ``continue_equilibria(...,
from_point=bp)``) continues the other branch through it, in a direction given by the
algebraic branching equation (see :func:`continue_equilibria`).

The package, one concept per module: :mod:`.diagram` (the result objects),
:mod:`.arclength` (the scaled branch, bordered Newton corrector, test functions and their
zeros), :mod:`.lyapunov` (the first Lyapunov coefficient) and :mod:`.follow`
(:func:`continue_equilibria` and branch switching).

Examples
--------
>>> import biosnn
>>> from biosnn.analysis import continue_equilibria
>>> fhn = biosnn.load_model("fitzhugh_nagumo")
>>> diagram = continue_equilibria(fhn, "I_ext", 0, 2)
>>> [(sp.type, round(sp.param, 4)) for sp in diagram.special_points]
[('hopf', 0.3313), ('hopf', 1.4187)]
"""

from __future__ import annotations

from biosnn.analysis.continuation.diagram import LABELS as LABELS  # figure labels, public
from biosnn.analysis.continuation.diagram import BifurcationDiagram, SpecialPoint
from biosnn.analysis.continuation.follow import continue_equilibria
from biosnn.analysis.continuation.lyapunov import lyapunov_coefficient

__all__ = ["BifurcationDiagram", "SpecialPoint", "continue_equilibria", "lyapunov_coefficient"]
