"""The registry of model kinds: the name a stored model gives each of its components.

A kind ties a name (``"bgnbd"``) to the role it plays (:mod:`~clv_stream.domain.protocols`),
the frozen dataclass of its parameters, which implements that role, and optionally its
maximum-likelihood fitter. A stored :class:`~clv_stream.domain.model.ScoringModel` names
each component's kind, so adding a model family is one module plus one :func:`register`
(the built-ins are registered at the bottom of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Literal

from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.fitting import fit_bgnbd, fit_gamma_gamma
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.inputs import ModelInputs
from clv_stream.domain.mle import FitResult
from clv_stream.domain.sbg import SbgCohorts, SbgParams
from clv_stream.exceptions import ModelError

__all__ = ["ModelKind", "Role", "dump", "kind", "kind_of", "load", "register", "unregister"]

Role = Literal["purchases", "spend", "retention"]
Fitter = Callable[[ModelInputs], FitResult[Any]]


@dataclass(frozen=True, slots=True)
class ModelKind:
    """One model family. ``params(**fields)`` builds a model from its stored fields (and
    validates them); ``fit`` estimates one from customers' inputs in days, or is ``None``
    for a kind that can only be configured."""

    name: str
    role: Role
    params: type[Any]
    fit: Fitter | None = None


_KINDS: dict[str, ModelKind] = {}
_BY_TYPE: dict[type[Any], ModelKind] = {}


def register(model_kind: ModelKind) -> ModelKind:
    """Make ``model_kind`` loadable and storable; a name or class registered twice is an
    error (two modules claiming one stored name would load each other's parameters)."""
    if not is_dataclass(model_kind.params):
        raise ModelError(f"model kind {model_kind.name}: params must be a dataclass")
    if model_kind.name in _KINDS or model_kind.params in _BY_TYPE:
        raise ModelError(f"model kind {model_kind.name} ({model_kind.params.__name__}) "
                         "is already registered")
    _KINDS[model_kind.name] = _BY_TYPE[model_kind.params] = model_kind
    return model_kind


def unregister(name: str) -> None:
    """Forget a kind (for tests and plug-ins that are unloaded)."""
    model_kind = _KINDS.pop(name)
    del _BY_TYPE[model_kind.params]


def kind(name: str, role: Role) -> ModelKind:
    """The registered kind ``name``, which must play ``role``."""
    found = _KINDS.get(name)
    if found is None:
        raise ModelError(f"unknown {role} model kind {name!r}; known: {sorted(_KINDS)}")
    if found.role != role:
        raise ModelError(f"model kind {name!r} is a {found.role} model, not a {role} model")
    return found


def kind_of(model: object) -> ModelKind:
    """The kind of a model object (by its exact class)."""
    found = _BY_TYPE.get(type(model))
    if found is None:
        raise ModelError(f"{type(model).__name__} is not a registered model kind")
    return found


def dump(model: object) -> dict[str, Any]:
    """``{"kind": name, "params": {...}}``, the stored form of one model component."""
    return {"kind": kind_of(model).name, "params": asdict(model)}  # type: ignore[call-overload]


def load(data: Mapping[str, Any], role: Role) -> Any:
    """The model a :func:`dump` stored, checked to play ``role``."""
    return kind(str(data["kind"]), role).params(**data["params"])


def _fit_gamma_gamma(inputs: ModelInputs) -> FitResult[Any]:
    # repeat buyers with a positive mean spend only, as lifetimes: the density needs m > 0
    spenders = (inputs.x > 0) & (inputs.m > 0)
    return fit_gamma_gamma(inputs.x[spenders], inputs.m[spenders])


def _fit_bgnbd(inputs: ModelInputs) -> FitResult[Any]:
    return fit_bgnbd(inputs.x, inputs.t_x, inputs.T)


register(ModelKind("bgnbd", "purchases", BgNbdParams, _fit_bgnbd))
register(ModelKind("gamma_gamma", "spend", GammaGammaParams, _fit_gamma_gamma))
# The sBG is fitted from subscriptions' renewals and churns (domain/sbg_fit.py), not from the
# order aggregates a kind's ModelInputs fitter receives: no fitter here.
register(ModelKind("sbg", "retention", SbgParams))
register(ModelKind("sbg_cohorts", "retention", SbgCohorts))
