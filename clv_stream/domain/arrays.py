"""Array helpers shared by the model modules: float64 coercion, cheap broadcasting, checks."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clv_stream.exceptions import ModelError

__all__ = ["FloatArray", "as_float", "broadcast", "check_positive"]

FloatArray = NDArray[np.float64]


def check_positive(name: str, **values: float) -> None:
    """:class:`ModelError` unless every value is finite and > 0 (model parameters)."""
    for key, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise ModelError(f"{name}.{key} must be finite and > 0, got {value!r}")


def as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def broadcast(*values: ArrayLike) -> list[FloatArray]:
    """``np.broadcast_arrays`` of float64 arrays, without its cost (a dozen calls a scored
    batch) in the batch path's case: arrays of one shape, and scalars,
    which are filled out to that shape (the same values, so the same results)."""
    arrays = [as_float(v) for v in values]
    shapes = {a.shape for a in arrays if a.ndim}
    if len(shapes) > 1:
        return list(np.broadcast_arrays(*arrays))
    shape = shapes.pop() if shapes else ()
    return [a if a.shape == shape else np.full(shape, a) for a in arrays]
