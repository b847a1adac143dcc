"""One reading of the Kafka credentials, in each client's terms."""

from __future__ import annotations

import ssl

import faust
import pytest

from clv_stream.settings import Settings
from clv_stream.worker.credentials import kafka_security

SECRET = "s3cr3t-Pa55"


def _settings(protocol: str, sasl: bool = False) -> Settings:
    login = ({"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "clv",
              "kafka_sasl_password": SECRET} if sasl else {})
    return Settings(kafka_bootstrap="k1:9093,k2:9093", kafka_security_protocol=protocol,
                    **login)  # type: ignore[arg-type]


def test_plaintext_needs_nothing_more() -> None:
    sec = kafka_security(_settings("PLAINTEXT"))
    assert sec.aiokafka() == {"bootstrap_servers": "k1:9093,k2:9093",
                              "security_protocol": "PLAINTEXT"}
    assert sec.kafka_python() == {"bootstrap_servers": "k1:9093,k2:9093",
                                  "security_protocol": "PLAINTEXT"}
    assert sec.faust() is None


def test_ssl_gives_every_client_a_context_or_ca_file() -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ssl.get_default_verify_paths().cafile)
    sec = kafka_security(settings)
    assert isinstance(sec.aiokafka()["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in sec.aiokafka()
    assert sec.kafka_python().get("ssl_cafile") == settings.kafka_ssl_cafile
    creds = sec.faust()
    assert isinstance(creds, faust.SSLCredentials)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_logs_in_with_the_same_user_everywhere(protocol: str) -> None:
    sec = kafka_security(_settings(protocol, sasl=True))
    aio, kp = sec.aiokafka(), sec.kafka_python()
    for opts in (aio, kp):
        assert opts["security_protocol"] == protocol
        assert (opts["sasl_mechanism"], opts["sasl_plain_username"],
                opts["sasl_plain_password"]) == ("SCRAM-SHA-512", "clv", SECRET)
    assert ("ssl_context" in aio) == (protocol == "SASL_SSL")
    creds = sec.faust()
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == ("clv", SECRET, "SCRAM-SHA-512")
    assert (creds.ssl_context is not None) == (protocol == "SASL_SSL")


def test_the_password_never_shows_in_what_gets_logged() -> None:
    sec = kafka_security(_settings("SASL_SSL", sasl=True))
    assert SECRET not in repr(sec)
    assert SECRET not in str(sec)
    assert SECRET not in f"{sec!r} {sec.password}"
