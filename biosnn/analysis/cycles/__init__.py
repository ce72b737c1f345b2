"""Continuation of periodic orbits (limit cycles) from a Hopf point.

:func:`continue_cycles` follows the branch of periodic orbits born at a Hopf point of an
equilibrium branch (:func:`~biosnn.analysis.continue_equilibria`) in one parameter, as
AUTO does:

* **Orthogonal collocation** (de Boor & Swartz; Doedel, Keller & Kernevez 1991, *Int. J.
  Bifurcation and Chaos* 1:493).  Time is rescaled to ``[0, 1]`` (``u' = T f(u, lam)``),
  cut into ``ntst`` mesh intervals; on each the orbit is a polynomial of degree ``ncol``
  given by its values at ``ncol + 1`` equally spaced nodes (neighbouring intervals share
  their end node) and the equation is imposed at the ``ncol`` Gauss-Legendre points.
  Mesh values are superconvergent (error ``O(h**(2 ncol))``).  Collocation was chosen
  over multiple shooting because its Newton matrix is built from the model's exact
  Jacobian at the collocation points in one vectorized kernel call, with no time
  integration at all, and because the monodromy matrix (hence the Floquet multipliers)
  comes for free from the condensed blocks of that matrix; shooting would integrate the
  variational equations at every Newton step.
* **Closing conditions**: periodicity ``u(0) = u(1)``; the integral phase condition
  ``int_0^1 <u(t), u_prev'(t)> dt = 0`` (the new orbit is phased against the previous
  one); pseudo-arclength in (orbit, period, parameter) with the ``L2`` norm of the orbit.
* **Newton** on all ``n (ntst ncol + 1) + 2`` unknowns with the exact Jacobian of the
  model at all collocation points (one vectorized kernel call).  The linear systems are
  solved as AUTO does, by condensation: the interior node values of every mesh interval
  are eliminated (batched QR of the ``n ncol x n (ncol - 1)`` blocks, all intervals at
  once), leaving a block-bidiagonal system on the ``ntst + 1`` mesh points with two
  border rows (phase, arclength), factorised by SuperLU (``scipy.sparse``).  After each
  step the mesh is redistributed so that ``h_j |u^(ncol)|_j ** (1/ncol)`` is
  equidistributed (fine intervals where the orbit bends, e.g. on a spike).
* **Start**: the Hopf point itself is the first point of the branch (amplitude zero,
  period ``2 pi / omega``); the first predictor moves along the critical eigenvector,
  ``u(t) = y_H + a Re(q exp(2 pi i t))``, and the corrector, keeping that amplitude
  ``a``, finds the parameter and period (which differ from the Hopf values by ``O(a**2)``,
  i.e. ``a ~ sqrt(|mu|)``).
* **Floquet multipliers**: on each interval the linearised collocation equations give
  ``u_j,ncol = M_j u_j,0`` after eliminating the interior nodes; the monodromy matrix is
  ``M_{ntst-1} ... M_0``.  One multiplier is 1 (trivial, removed); the orbit is stable
  when all others have modulus < 1.

Test functions along the branch (located by the Illinois method on the arclength, each
trial point corrected onto the branch): fold of cycles (``"lpc"``: the parameter
component of the tangent), period doubling (``"pd"``: ``prod (1 + mu_i)`` over the
non-trivial multipliers), Neimark-Sacker / torus (``"ns"``: ``prod_{i<j} (mu_i mu_j -
1)``; a zero with a real pair ``mu, 1/mu`` is a neutral saddle and is not reported).
Continuation stops at the end of the parameter interval, when the amplitude shrinks to
zero at another Hopf point (status ``"reached a Hopf point"``, whose parameter is
extrapolated from ``lam(a**2)``), or when the period grows beyond ``max_period``
(status ``"homoclinic"``: approach to a homoclinic orbit).

At a period doubling, :meth:`CycleBranch.switch` (or ``continue_cycles(model, pd, ...)``)
continues the period-doubled orbits: the orbit traversed twice, perturbed along the
Floquet eigenfunction of the multiplier -1 (see the Notes of :func:`continue_cycles`).

The package, one concept per module: :mod:`.collocation` (mesh, Lagrange basis, the
condensed Newton system and its monodromy matrix), :mod:`.branch` (the result objects
:class:`CycleBranch`, :class:`CyclePoint`, Floquet multipliers and the test functions read
from them, figure labels) and :mod:`.continuation` (:func:`continue_cycles`: starts at a
Hopf point or a period doubling, the predictor-corrector loop, location of special points).

Examples
--------
>>> from biosnn import Model
>>> from biosnn.analysis import continue_equilibria, continue_cycles
>>> m = Model('''dx/dt = mu*x - y - x*(x**2 + y**2) : 1
...              dy/dt = x + mu*y - y*(x**2 + y**2) : 1''', params={"mu": -1})
>>> d = continue_equilibria(m, "mu", -1, 1)
>>> cycles = continue_cycles(m, d.special("hopf")[0], "mu", stop=1)
>>> round(float(cycles.max["x"][-1]), 8), round(float(cycles.period[-1]), 8)
(1.0, 6.28318531)
"""

from __future__ import annotations

from biosnn.analysis.cycles.branch import LABELS as LABELS  # figure labels, public
from biosnn.analysis.cycles.branch import CycleBranch, CyclePoint
from biosnn.analysis.cycles.continuation import continue_cycles

__all__ = ["CycleBranch", "CyclePoint", "continue_cycles"]
