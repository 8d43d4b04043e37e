"""What the repeat-purchase models share: the interface CLV and explanations rely on, the checks on a
customer summary's arrays, and the error for a model used before it is fitted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from afinidad.errors import AfinidadError, FieldProblem, InvalidInput


class ModelNotFitted(AfinidadError):
    """A model asked for a prediction before `fit` (or with parameters that were never set)."""

    title = "Model not fitted"


class PurchaseModel(Protocol):
    """A fitted repeat-purchase model (BG/NBD, Pareto/NBD): what `GammaGamma.customer_value` and
    `explain_purchases` need. `params_` has at least `r` and `alpha`, the gamma prior of the purchase rate."""

    params_: Any

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray: ...

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray: ...

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray: ...


def customer_arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float arrays of one shape (scalars broadcast), checked: no NaN, nothing negative, recency <= T, and
    recency 0 for a customer without repeat purchases. A customer with no orders at all is frequency 0,
    recency 0, T 0: every model answers for it as for a customer whose first purchase is now."""
    x, t_x, age = np.broadcast_arrays(*(np.asarray(values, dtype=np.float64) for values in (frequency, recency, T)))
    problems = []
    for name, values in (("frequency", x), ("recency", t_x), ("T", age)):
        if not np.isfinite(values).all():
            problems.append(FieldProblem(name, "NaN or infinite"))
        elif (values < 0).any():
            problems.append(FieldProblem(name, "negative"))
    if not problems:
        if (t_x > age * (1 + 1e-9) + 1e-9).any():
            problems.append(FieldProblem("recency", "larger than T (the last purchase after the end)"))
        if ((x == 0) & (t_x > 0)).any():
            problems.append(FieldProblem("recency", "not 0 for a customer without repeat purchases"))
    if problems:
        raise InvalidInput("Invalid customer summary.", problems)
    return x, np.minimum(t_x, age), age


def horizon_array(t: ArrayLike) -> np.ndarray:
    """A forecast horizon (one, or several to broadcast against the customers), checked."""
    horizon = np.asarray(t, dtype=np.float64)
    if not np.isfinite(horizon).all() or (horizon < 0).any():
        raise InvalidInput("Invalid forecast horizon.", [FieldProblem("t", "negative, NaN or infinite")])
    return horizon


def fitted(model: Any) -> Any:
    """The model's fitted parameters, or ModelNotFitted."""
    params = getattr(model, "params_", None)
    if params is None:
        raise ModelNotFitted(f"{type(model).__name__} is not fitted: call fit() first.")
    return params


def single_threaded_blas() -> threadpool_limits:
    """Around a fit: one BLAS thread. The optimiser's BLAS calls are tiny, and worker threads that another
    library's BLAS left spinning took both cores of a 2-core machine from it (measured: a 10 ms BG/NBD fit
    took 40-120 ms after `lifetimes` had run in the same process; 0.5 ms to set the limit)."""
    return threadpool_limits(1, "blas")


def time_scale(T: np.ndarray) -> float:
    """The factor that brings the longest age to 10 while fitting, as `lifetimes` does: the optimiser then
    starts from parameters of the right size whatever the time unit, and a penalizer means the same thing."""
    longest = float(T.max(initial=0.0))
    return 10.0 / longest if longest > 0 else 1.0


def unique_rows(
    columns: tuple[np.ndarray, ...], weights: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The distinct rows of parallel columns (sorted), the summed weight of each, and where each input row
    went: the likelihood needs each row only once. A lexsort, since `np.unique(axis=0)` sorts rows as opaque
    bytes and took 0.12 s on CDNOW's 23,570 customers, six times a whole BG/NBD fit."""
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    starts = np.ones(len(order), dtype=bool)
    for column in ordered:
        starts[1:] &= column[1:] == column[:-1]
    starts = ~starts
    starts[:1] = True
    first = np.flatnonzero(starts)
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return [column[first] for column in ordered], np.add.reduceat(weights[order], first), inverse


def fit_weights(weights: ArrayLike | None, size: int) -> np.ndarray:
    """Per-customer weights for a fit (how many customers a row stands for): ones by default."""
    if size == 0:
        raise InvalidInput("Nothing to fit: no customers.", [FieldProblem("frequency", "empty")])
    if weights is None:
        return np.ones(size)
    values = np.broadcast_to(np.asarray(weights, dtype=np.float64), (size,))
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise InvalidInput("Invalid weights.", [FieldProblem("weights", "negative, NaN or all zero")])
    return values


def fit_rows(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, tuple[np.ndarray, ...], np.ndarray, float]:
    """What both purchase models fit on: the checked customers and their weights, then the distinct
    (frequency, recency, T) rows in the fitting time scale with their summed weights (many customers share
    a history, so the likelihood is evaluated once per distinct one), and that scale."""
    x, t_x, age = customer_arrays(frequency, recency, T)
    x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
    counts = fit_weights(weights, len(x))
    scale = time_scale(age)
    rows, row_weights, _ = unique_rows((x, t_x * scale, age * scale), counts)
    return (x, t_x, age), counts, rows, row_weights, scale


def fit_log_parameters(objective: Any, start: ArrayLike, max_iterations: int, tol: float, *,
                       gradient: bool = True, upper: Sequence[float] | None = None) -> Any:  # fmt: skip
    """What every purchase and spend model's fit does: L-BFGS-B over the logs of its positive parameters,
    each kept within [-30, 30] (or under its `upper` bound), on a single BLAS thread. With `gradient`, the
    objective returns its exact gradient too; without, L-BFGS-B works from finite differences (step 1e-7,
    looser gtol 1e-8)."""
    from scipy.optimize import minimize

    start = np.asarray(start, dtype=np.float64)
    options = ({"maxiter": max_iterations, "ftol": tol, "gtol": 1e-9} if gradient
               else {"maxiter": max_iterations, "ftol": tol, "gtol": 1e-8, "eps": 1e-7})  # fmt: skip
    with single_threaded_blas():
        bounds = [(-30.0, 30.0 if upper is None else upper[i]) for i in range(len(start))]
        return minimize(objective, start, jac=gradient, method="L-BFGS-B", bounds=bounds, options=options)
