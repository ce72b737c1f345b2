"""Two-parameter continuation of fold and Hopf curves, with codimension-2 points.

:func:`continue_curve` follows the curve of fold (saddle-node) or Hopf points through a
fold or Hopf :class:`~biosnn.analysis.continuation.SpecialPoint` of a one-parameter
diagram as two parameters change; :func:`two_parameter_diagram` does it for every fold and
Hopf point of a :class:`~biosnn.analysis.continuation.BifurcationDiagram` and returns a
:class:`TwoParameterDiagram`.

Defining systems (Govaerts, *Numerical methods for bifurcations of dynamical equilibria*,
2000; Kuznetsov, *Elements of Applied Bifurcation Theory*, 3rd ed., sect. 10.2), unknowns
``x = (y, p1, p2, ...)``:

* fold, minimally extended: ``f(y, p) = 0`` and ``g(y, p) = 0``, where ``g`` is the last
  component of the solution of the bordered system ``[[J, b], [c^T, 0]] (v, g) = (0, 1)``
  (``g = 0`` exactly when ``J`` is singular; ``v`` is then its null vector, and the
  adjoint system gives the left null vector ``w``).  ``g_z = -w^T J_z v``.  The borders
  ``b, c`` are set to the current ``w, v`` after every accepted point.
* Hopf, standard augmented: ``f = 0``, ``(J^2 + kappa I) v = 0``, ``<v, v> = 1``,
  ``<v, l> = 0`` with the extra unknowns ``v`` and ``kappa`` (``kappa = omega^2`` on a
  Hopf curve; ``l`` is the vector of the invariant plane orthogonal to ``v`` at the
  previous point).  The system stays regular through a Bogdanov-Takens point, where
  ``kappa`` changes sign and the curve goes on as a curve of neutral saddles
  (``kappa < 0``: real eigenvalues ``+-sqrt(-kappa)``).

Derivatives are exact: ``J_y u`` is the bilinear form ``B(u, .)`` of the second
derivatives, ``J_p u = d(J u)/dp`` is printed from sympy's mixed second derivatives of the
right-hand side (both are kernels compiled once per model; no finite differences).  The
curve is followed by pseudo-arclength continuation in scaled coordinates (states by
``max(|y0|, 1)``, each parameter by the length of its interval, ``kappa`` by its starting
value), in both directions from the start, until it leaves the parameter box, closes on
itself, or reaches ``max_points``.

Codimension-2 points (MatCont's test functions), each located by the Illinois method on
the arclength:

* cusp (``"cusp"``, CP) on a fold curve: ``a = <w, B(v, v)>`` (the quadratic normal-form
  coefficient up to a positive factor) changes sign;
* Bogdanov-Takens (``"bt"``, BT): on a fold curve ``<w, v>`` changes sign (the zero
  eigenvalue becomes double, with a Jordan block); on a Hopf curve ``kappa = omega^2``
  does;
* Bautin / generalized Hopf (``"bautin"``, GH) on a Hopf curve: the first Lyapunov
  coefficient ``l1`` (Kuznetsov's formula, as in :mod:`biosnn.analysis.continuation`)
  changes sign.

The package, one concept per module: :mod:`.results` (the result objects),
:mod:`.defining` (the defining systems and their derivatives), :mod:`.curves`
(:func:`continue_curve`) and :mod:`.diagram` (:func:`two_parameter_diagram`).

Examples
--------
>>> from biosnn import Model
>>> from biosnn.analysis import continue_equilibria, continue_curve
>>> m = Model("dx/dt = a + b*x - x**3 : 1", params={"a": 0, "b": 1})
>>> d = continue_equilibria(m, "a", -1, 1, init={"x": -1.5})
>>> curve = continue_curve(m, d.special("fold")[0], "a", "b", {"a": (-1, 1), "b": (-1, 1)})
>>> [(p.type, round(p.params["a"], 8) + 0, round(p.params["b"], 8) + 0) for p in curve.codim2]
[('cusp', 0.0, 0.0)]
"""

from __future__ import annotations

from biosnn.analysis.codim2.curves import continue_curve
from biosnn.analysis.codim2.diagram import two_parameter_diagram
from biosnn.analysis.codim2.results import LABELS as LABELS  # figure labels, public
from biosnn.analysis.codim2.results import Codim2Point, Curve, TwoParameterDiagram

__all__ = ["Codim2Point", "Curve", "TwoParameterDiagram", "continue_curve", "two_parameter_diagram"]
