"""Maximum-likelihood machinery shared by the model fitters: the result type, the optimiser
over log-parameters, and the grouping of customers into distinct weighted rows.

Fitters minimise the *mean* negative log-likelihood over log-parameters (so every parameter
stays positive) with L-BFGS-B and an analytic gradient; see :mod:`~clv_stream.domain.fitting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from clv_stream.exceptions import ModelError

__all__ = ["FitResult", "Objective", "Optimum", "codes", "column", "dot", "fit_log_params",
           "unique_rows"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]
P = TypeVar("P")  # the parameters of the model kind fitted

#: Log-parameters are searched in [-_LOG_BOUND, _LOG_BOUND]; ending on a bound means the
#: maximum likelihood is degenerate (e.g. no repeat buyers) and the fit is rejected.
_LOG_BOUND = 25.0
#: A non-converged optimiser result is still accepted when the mean gradient is this small.
_GRAD_OK = 1e-5


@dataclass(frozen=True, slots=True)
class FitResult(Generic[P]):
    """A fitted model: parameters and how the fit went.

    ``log_likelihood`` is the *total* over customers (the same number as the sum of the
    per-customer likelihoods of the model's module), ``n_customers`` the
    number used (for Gamma-Gamma, those with ``x > 0``), ``seconds`` the wall time.
    ``converged`` says the optimiser stopped at a stationary point; on tiny or degenerate
    data (say, nobody ever lapses) that point may still have extreme parameters.
    """

    params: P
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: int
    seconds: float
    message: str


def column(name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a flat float64 array; :class:`ModelError` on NaN or infinity."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"{name} has non-finite values")
    return arr


def dot(a: FloatArray, b: FloatArray) -> float:
    """``sum(a * b)`` in one thread: a threaded BLAS ``ddot`` per term costs more than it saves
    on a busy machine (thread wake-ups and spinning on every objective evaluation)."""
    return float(np.einsum("i,i->", a, b))


def codes(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct values and, per value, the index of its distinct value."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.ravel().astype(np.intp)


def unique_rows(*columns: IntArray) -> tuple[IntArray, FloatArray]:
    """First index of each distinct row of the integer :func:`codes` columns, and each row's
    count."""
    sizes = [int(code.max()) + 1 for code in columns]
    if float(np.prod(np.array(sizes, dtype=np.float64))) < 2.0**62:
        key = np.zeros_like(columns[0], dtype=np.int64)
        for code, size in zip(columns, sizes, strict=True):
            key = key * size + code
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
    else:
        _, first, counts = np.unique(np.stack(columns), axis=1, return_index=True,
                                     return_counts=True)
    return first.astype(np.intp), counts.astype(np.float64)


@dataclass(frozen=True, slots=True)
class Optimum:
    theta: FloatArray
    log_likelihood: float
    converged: bool
    iterations: int
    message: str


def fit_log_params(objective: Objective, start: FloatArray, n: int) -> Optimum:
    """L-BFGS-B on the mean negative log-likelihood of ``n`` customers.

    Rejects (:class:`ModelError`) non-finite optima and optima on the log-parameter bounds;
    a result the optimiser flags (e.g. line-search stalls at machine precision) counts as
    converged when the gradient is below ``_GRAD_OK``.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.size
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                       options=options)
    theta = np.asarray(res.x, dtype=np.float64)
    grad = np.asarray(res.jac, dtype=np.float64)
    if not (np.isfinite(res.fun) and np.all(np.isfinite(theta))):
        raise ModelError(f"fit failed: {res.message}")
    if np.any(np.abs(theta) >= _LOG_BOUND - 1e-6):
        raise ModelError(f"fit degenerate: a log-parameter reached +/-{_LOG_BOUND}: {theta}")
    converged = bool(res.success) or float(np.max(np.abs(grad))) < _GRAD_OK
    return Optimum(theta, -float(res.fun) * n, converged, int(res.nit), str(res.message))


