"""Typed errors of the MQTT adapter.

Messages are built from host names, file names, reason codes and the text of OS and
TLS errors, never from credentials; `scrub` masks the password anyway, in case a
library ever echoed it.
"""

from __future__ import annotations

from herald.secret import Secret

_MASK = "********"


class MqttError(Exception):
    """Talking to the MQTT broker failed."""


class MqttConnectError(MqttError):
    """The broker could not be reached: name resolution, TCP connect or timeout."""


class MqttTlsError(MqttConnectError):
    """TLS could not be set up: a CA, certificate or key file, or the handshake."""


class MqttRefused(MqttError):
    """The broker answered CONNECT with a failure (bad credentials, not authorised...)."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code

    @property
    def bad_credentials(self) -> bool:
        """True for "bad user name or password" (0x86) and "not authorized" (0x87)."""
        return self.reason_code in (0x86, 0x87)


class MqttConnectionLost(MqttError):
    """An established connection ended (broker gone, keepalive timeout, taken over...)."""


def scrub(text: str, secret: Secret | None) -> str:
    """`text` with every occurrence of the secret's value masked."""
    if secret is None:
        return text
    value = secret.reveal()
    if len(value) < 3:  # masking one or two characters would only garble the text
        return text
    return text.replace(value, _MASK)
