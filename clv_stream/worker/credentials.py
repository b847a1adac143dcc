"""Kafka credentials: read from the settings once, handed to each client in its own terms.

Three clients talk to the broker: aiokafka (the batch loop and the sink), Faust (its own
producer and consumer group) and kafka-python (``clv-stream produce``). Each names the
same security settings differently; :func:`kafka_security` reads them once and the three
methods of :class:`KafkaSecurity` only translate, so a new mechanism or option is added
here and reaches every client.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from clv_stream.settings import Settings

if TYPE_CHECKING:
    import faust

__all__ = ["KafkaSecurity", "kafka_security"]

_SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How to reach the brokers: protocol, CA file, SASL login. The password stays a
    :class:`~pydantic.SecretStr` (masked in ``repr`` and logs) until a client takes it."""

    bootstrap: str
    protocol: str = "PLAINTEXT"
    cafile: str | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = None

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in _SSL_PROTOCOLS

    def _password(self) -> str | None:
        return self.password.get_secret_value() if self.password else None

    def _ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.cafile) if self.uses_ssl else None

    def aiokafka(self) -> dict[str, Any]:
        """Options of an ``AIOKafkaConsumer`` or ``AIOKafkaProducer``."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                "security_protocol": self.protocol}
        if self.uses_ssl:
            opts["ssl_context"] = self._ssl_context()
        if self.sasl_mechanism:
            opts.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                        sasl_plain_password=self._password())
        return opts

    def kafka_python(self) -> dict[str, Any]:
        """Options of a kafka-python ``KafkaProducer``."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                "security_protocol": self.protocol}
        if self.uses_ssl and self.cafile:
            opts["ssl_cafile"] = self.cafile
        if self.sasl_mechanism:
            opts.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                        sasl_plain_password=self._password())
        return opts

    def faust(self) -> faust.SASLCredentials | faust.SSLCredentials | None:
        """Faust's ``broker_credentials`` (None: plaintext without SASL)."""
        import faust  # here: ``clv-stream produce`` needs no Faust

        context = self._ssl_context()
        if self.sasl_mechanism:
            return faust.SASLCredentials(username=self.username, password=self._password(),
                                         mechanism=self.sasl_mechanism, ssl_context=context)
        return faust.SSLCredentials(context) if context else None


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The one reading of the ``CLV_KAFKA_*`` connection settings."""
    return KafkaSecurity(
        bootstrap=settings.kafka_bootstrap, protocol=settings.kafka_security_protocol,
        cafile=settings.kafka_ssl_cafile, sasl_mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
    )
