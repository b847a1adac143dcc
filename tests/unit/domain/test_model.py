"""The stored scoring model: its JSON names each component's kind; older JSON still loads."""

from __future__ import annotations

import orjson
import pytest

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.value import ValueConfig, score
from clv_stream.exceptions import ModelError

DAY = 86400
T0 = 1_704_067_200
#: A model as ``clv-stream fit`` stored it in Redis before components carried a kind.
STORED_BEFORE_KINDS = (
    b'{"version":"v20250101T000000Z","bgnbd":{"r":0.61,"alpha":35.2,"a":0.42,"b":2.9},'
    b'"gamma_gamma":{"p":5.1,"q":3.2,"v":20.5},"time_unit_days":1.0,'
    b'"tier_cuts":[12.5,80.0,400.0],"rfm_cuts":{"recency_days":[10.0,30.0,90.0,200.0],'
    b'"orders":[1.0,1.0,2.0,4.0],"net_revenue":[20.0,45.0,90.0,250.0]},'
    b'"diagnostics":{"bgnbd":{"converged":true},"as_of":1735689600}}'
)
BG = BgNbdParams(r=0.61, alpha=35.2, a=0.42, b=2.9)
GG = GammaGammaParams(p=5.1, q=3.2, v=20.5)


def test_a_model_stored_before_kinds_loads_as_bgnbd_and_gamma_gamma() -> None:
    model = ScoringModel.from_json_dict(orjson.loads(STORED_BEFORE_KINDS))
    assert model == ScoringModel(
        "v20250101T000000Z", BG, GG, 1.0, (12.5, 80.0, 400.0),
        {"recency_days": (10.0, 30.0, 90.0, 200.0), "orders": (1.0, 1.0, 2.0, 4.0),
         "net_revenue": (20.0, 45.0, 90.0, 250.0)},
        {"bgnbd": {"converged": True}, "as_of": 1735689600})
    # stored again, it is in today's shape and scores as it did
    again = ScoringModel.from_json_dict(orjson.loads(orjson.dumps(model.to_json_dict())))
    assert again == model
    customer = Summary(orders=2, net_minor=15000, profit_minor=7500, first_ts=T0,
                       last_ts=T0 + 10 * DAY, purchase_days=2, first_day_net_minor=10000)
    cfg = ValueConfig()
    assert score([customer], T0 + 40 * DAY, again, cfg) == score(
        [customer], T0 + 40 * DAY, model, cfg)


def test_each_component_is_stored_with_its_kind() -> None:
    stored = ScoringModel("v1", BG, GG).to_json_dict()
    assert stored["purchases"] == {"kind": "bgnbd",
                                   "params": {"r": 0.61, "alpha": 35.2, "a": 0.42, "b": 2.9}}
    assert stored["spend"] == {"kind": "gamma_gamma", "params": {"p": 5.1, "q": 3.2, "v": 20.5}}
    assert ScoringModel.from_json_dict(stored) == ScoringModel("v1", BG, GG)


def test_bgnbd_and_gamma_gamma_are_also_stored_as_before_for_workers_not_yet_upgraded() -> None:
    stored = ScoringModel("v1", BG, GG).to_json_dict()
    assert stored["bgnbd"] == {"r": 0.61, "alpha": 35.2, "a": 0.42, "b": 2.9}
    assert stored["gamma_gamma"] == {"p": 5.1, "q": 3.2, "v": 20.5}


def test_a_kind_in_the_wrong_role_or_bad_parameters_are_refused() -> None:
    stored = ScoringModel("v1", BG, GG).to_json_dict()
    swapped = {**stored, "purchases": stored["spend"]}
    with pytest.raises(ModelError, match="gamma_gamma' is a spend model"):
        ScoringModel.from_json_dict(swapped)
    negative = {**stored, "spend": {"kind": "gamma_gamma",
                                    "params": {"p": -1.0, "q": 3.2, "v": 20.5}}}
    with pytest.raises(ModelError, match=r"GammaGammaParams\.p must be"):
        ScoringModel.from_json_dict(negative)
