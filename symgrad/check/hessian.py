"""The second-order check: Hessian-vector products of a network's gradients, or of a user's backward.

:func:`check_hessian` differentiates a gradient along two random directions by
differences of the gradient itself and compares the products with second
differences of the loss (:mod:`symgrad.numeric.hessian` says why the loss, and
not a symbolic derivative of the gradient, is the reference). For a network the
gradients are the compiled symbolic gradient and the layers' own ``backward()``;
for a user's layer (any convention :func:`symgrad.check_layer` takes), the
backward's gradients of the scalar ``L = <dout, forward(x)>`` with a fixed random
``dout``, as torch's ``gradgradcheck`` differentiates a backward. A backward
whose values are right at the point but whose dependence on the point is wrong
(a stale cached activation, say) passes the first-order check and fails this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.check.compare import tolerance
from symgrad.check.points import sample_values
from symgrad.check.report import cached_derivation, check_options
from symgrad.derive.artifacts import StoredDerivation
from symgrad.derive.derivation import Derivation
from symgrad.errors import DTypeError, UnknownNameError
from symgrad.network import Network
from symgrad.numeric.hessian import HessianComparison, HessianResult, hessian_vector_check
from symgrad.numeric.reference import reference_backward, reference_loss, relu_inputs

__all__ = ["HessianReport", "HessianRow", "check_hessian"]

#: Default relative tolerance of a Hessian-vector product (on top of both sides' error estimates).
RTOL = 1e-6


@dataclass(frozen=True)
class HessianRow:
    """One gradient source ("symbolic", "backward()") compared with the loss's curvature."""

    source: str
    comparisons: tuple[HessianComparison, ...]
    # "ok", "FAIL", "kink" (a stencil crossed a ReLU kink: not comparable) or "unresolved" (the differences'
    # Richardson tables did not converge at these steps: their error estimates vouch for nothing)
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        """True unless a comparison failed away from a kink."""
        return self.status != "FAIL"


@dataclass(frozen=True)
class HessianReport:
    """The result of :func:`check_hessian`: a row per gradient source."""

    title: str
    rows: tuple[HessianRow, ...]
    names: tuple[str, ...]
    seed: int
    rtol: float
    gradient_calls: int
    loss_calls: int
    values: Mapping[str, Any] = field(repr=False, default_factory=dict)
    #: The dtype a user's layer computes in (steps and tolerance follow it); float64 for a network.
    dtype: str = "float64"

    @property
    def ok(self) -> bool:
        """True when every row passed."""
        return all(row.passed for row in self.rows)

    def __str__(self) -> str:
        from symgrad.render.reporttext import hessian_text  # rendering lives upstairs

        return hessian_text(self)


def check_hessian(
    thing: Any,
    values: Mapping[str, Any] | None = None,
    *,
    x: Any = None,
    t: Any = None,
    params: Mapping[str, Any] | Sequence[str] | None = None,
    dout: Any = None,
    seed: int = 0,
    rtol: float | None = None,
    batch: int = 4,
) -> HessianReport:
    """Check second derivatives: Hessian-vector products of the gradient against the loss's curvature.

    Parameters
    ----------
    thing : Network, Derivation or a user's layer
        A symgrad network (its compiled symbolic gradient and its layers'
        ``backward()`` are both checked), or a layer in any convention
        :func:`symgrad.check_layer` takes.
    values : mapping, optional
        A network's point; by default the seeded point :func:`symgrad.check` uses.
    x, t, params, dout :
        A layer's inputs, target, parameters and upstream gradient, as for
        :func:`symgrad.check_layer` (``dout`` is seeded and random by default).
    seed : int, optional
        Seeds the point, ``dout`` and the two random directions.
    rtol : float, optional
        Relative tolerance on top of the estimated errors; default 1e-6 (a float32
        layer: 1e-2, with steps for that precision; float16 is refused).
    batch : int, optional
        A network's batch size when the point is sampled.

    Returns
    -------
    HessianReport
        ``ok``, and per source four comparisons: ``<w, H u>`` and ``<u, H w>``
        (the Hessian's symmetry) against the loss's mixed second difference,
        ``<u, H u>`` and ``<w, H w>`` against its second differences. The cost
        does not grow with the size: 8 gradient evaluations per source and 17
        of the loss.

    Examples
    --------
    >>> import symgrad
    >>> report = check_hessian(symgrad.article_network())
    >>> report.ok, [row.source for row in report.rows]
    (True, ['symbolic', 'backward()'])
    >>> import numpy as np
    >>> class Sigmoid:  # caches its output on the first call only: right there, stale after
    ...     out = None
    ...     def forward(self, x):
    ...         if self.out is None:
    ...             self.out = 1 / (1 + np.exp(-x))
    ...         return 1 / (1 + np.exp(-x))
    ...     def backward(self, dout):
    ...         return dout * self.out * (1 - self.out)
    >>> x = np.random.default_rng(0).standard_normal((2, 3))
    >>> report = check_hessian(Sigmoid(), x=x)
    >>> report.ok, report.rows[0].status
    (False, 'FAIL')
    """
    check_options(seed, rtol, None)
    tol = RTOL if rtol is None else float(rtol)
    if isinstance(thing, (Network, Derivation, StoredDerivation)):
        return _network(thing, values, seed, tol, batch)
    if x is None:
        msg = "check_hessian takes a symgrad Network, or a layer with its input x=..."
        raise UnknownNameError(msg)
    from symgrad.check.hessianlayer import layer_functions  # check_layer's conventions, loaded when needed

    title, f, g, point, names, dtype = layer_functions(thing, x=x, t=t, params=params, dout=dout, seed=seed)
    # Steps, rounding floors and the tolerance follow the precision the layer computes in.
    tol = tolerance("central", dtype, override=rtol) if dtype != np.float64 else tol
    eps = float(np.finfo(dtype).eps)
    if eps > np.finfo(np.float32).eps:
        msg = (f"{title} computes in {np.dtype(dtype).name}, where second differences keep no digits "
               "(rounding eps/s^2 is larger than the curvature); check its second order in float32 or float64")
        raise DTypeError(msg)
    result = hessian_vector_check(f, g, point, names, seed=seed, rtol=tol, eps=eps)
    row = _row("backward()", result, kink=result.kinked)
    return HessianReport(title, (row,), names, seed, tol, result.gradient_calls, result.loss_calls, point,
                         dtype=np.dtype(dtype).name)


def _network(thing: Any, values: Mapping[str, Any] | None, seed: int, tol: float, batch: int) -> HessianReport:
    derivation = thing if isinstance(thing, (Derivation, StoredDerivation)) else None
    net = derivation.network if derivation is not None else thing
    if not isinstance(net, Network):
        msg = f"check_hessian() takes a symgrad Network or a Derivation of one, got {type(thing).__name__}"
        raise UnknownNameError(msg)
    if derivation is None:
        derivation = cached_derivation(net, None, 0)
    point = dict(values) if values is not None else sample_values(net, seed=seed, batch=batch)
    arrays = {name: np.asarray(point[name], dtype=float) for name in net.names}
    names = tuple(derivation.wrt)
    compiled = derivation.lambdify()

    def loss(v: Mapping[str, Any]) -> Any:
        return reference_loss(net, v)

    sources: dict[str, Callable[[dict[str, Any]], Mapping[str, Any]]] = {
        "symbolic": lambda v: compiled.evaluate(v)[1],
        "backward()": lambda v: reference_backward(net, v, names).gradients,
    }
    rows, calls = [], (0, 0)
    for source, gradient in sources.items():
        result = hessian_vector_check(loss, gradient, arrays, names, seed=seed, rtol=tol)
        rows.append(_row(source, result, kink=not result.ok and (result.kinked or _near_kink(net, arrays, result))))
        calls = (calls[0] + result.gradient_calls, calls[1] + result.loss_calls)
    return HessianReport(derivation.title, tuple(rows), names, seed, tol, *calls, point)


def _row(source: str, result: HessianResult, *, kink: bool) -> HessianRow:
    if result.ok:
        return HessianRow(source, result.comparisons, "ok")
    worst = max(result.comparisons, key=lambda c: c.rel_error - c.estimate)
    if kink:
        message = (f"{source}: a second-difference stencil crosses a kink (a point where the function is not "
                   "smooth, such as ReLU's at 0), where the second derivative is not defined; not comparable at "
                   "this point (try another point or seed)")
        return HessianRow(source, result.comparisons, "kink", message)
    if result.unresolved:
        message = (f"{source}: {worst.what} is {worst.from_gradient:.10g} from differences of the gradient and "
                   f"{worst.from_loss:.10g} from second differences of the loss (relative error "
                   f"{worst.rel_error:.1e}), "
                   "but the finite differences did not converge as the step was halved (the function is too steep "
                   "for these steps), so their error estimates cannot be trusted: not verified at this point, not "
                   "evidence of a wrong Hessian (try a point where the loss curves less, or smaller inputs)")
        return HessianRow(source, result.comparisons, "unresolved", message)
    message = (
        f"{source}: {worst.what} is {worst.from_gradient:.10g} from differences of the gradient along random "
        f"directions, but {worst.from_loss:.10g} from second differences of the loss (relative error "
        f"{worst.rel_error:.1e} > tolerance {result.rtol:.0e} + estimated error {worst.estimate:.1e}). "
        "The gradient does not change with the point as the loss curves, although a first-order check at the "
        "point itself can pass: a value cached at another point (a stale cache), or a rule right only here"
    )
    return HessianRow(source, result.comparisons, "FAIL", message)


def _near_kink(net: Network, arrays: dict[str, Any], result: HessianResult) -> bool:
    """True when a ReLU input changes sign at the ends of a loss stencil (along u, w, u + w or u - w)."""
    base = relu_inputs(net, arrays)
    if not base:
        return False
    signs = [z > 0 for z in base]
    u, w = result.u, result.w
    for direction in (u, w, {n: u[n] + w[n] for n in u}, {n: u[n] - w[n] for n in u}):
        for step in (result.loss_step, -result.loss_step):
            moved = {**arrays, **{n: arrays[n] + step * d for n, d in direction.items()}}
            if any(np.any((z > 0) != sign) for z, sign in zip(relu_inputs(net, moved), signs, strict=True)):
                return True
    return False
