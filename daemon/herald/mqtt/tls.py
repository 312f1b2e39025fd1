"""Opening the connection to the broker: DNS, TCP and TLS, with errors a user can act on.

Everything here blocks; the client runs `open_connection` in a worker thread.
"""

from __future__ import annotations

import socket
import ssl

from herald.mqtt.errors import MqttConnectError, MqttTlsError
from herald.mqtt.settings import MqttSettings


def _no_key_password() -> bytes:
    # An encrypted key fails to load instead of prompting on a terminal nobody watches.
    return b""


def make_ssl_context(settings: MqttSettings) -> ssl.SSLContext:
    """A client context: TLS >= 1.2, the broker's certificate and host name verified
    against ``ca_file`` (or the system CAs), the client certificate if configured.

    Raises MqttTlsError naming the file that could not be used.
    """
    ca = settings.ca_file
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except FileNotFoundError:
        raise MqttTlsError(f"cannot read the CA file {ca!r}: no such file") from None
    except OSError as exc:
        raise MqttTlsError(f"cannot read the CA file {ca!r}: {exc.strerror or exc}") from None
    except ssl.SSLError as exc:
        raise MqttTlsError(
            f"the CA file {ca!r} holds no usable PEM certificate ({exc.reason or exc})"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.certfile and settings.keyfile:
        try:
            context.load_cert_chain(settings.certfile, settings.keyfile, _no_key_password)
        except OSError as exc:
            raise MqttTlsError(
                f"cannot read the client certificate {settings.certfile!r} or its key "
                f"{settings.keyfile!r}: {exc.strerror or exc}"
            ) from None
        except ssl.SSLError as exc:
            raise MqttTlsError(
                f"the client certificate {settings.certfile!r} and key {settings.keyfile!r} "
                f"cannot be used (not PEM, not a pair, or an encrypted key): {exc.reason or exc}"
            ) from None
    return context


def open_connection(settings: MqttSettings) -> socket.socket:
    """Resolve, connect and (with ``tls``) handshake; blocking, bounded by
    ``connect_timeout`` per step. Returns the connected (TLS) socket.

    Raises MqttConnectError, or MqttTlsError for a certificate or handshake problem.
    """
    where = f"{settings.host}:{settings.port}"
    context = make_ssl_context(settings) if settings.tls else None
    try:
        sock = socket.create_connection(
            (settings.host, settings.port), timeout=settings.connect_timeout
        )
    except socket.gaierror as exc:
        raise MqttConnectError(
            f"cannot resolve the broker host {settings.host!r}: {exc.strerror}"
        ) from None
    except TimeoutError:
        raise MqttConnectError(
            f"no answer from the broker {where} within {settings.connect_timeout:g} s"
        ) from None
    except ConnectionRefusedError:
        raise MqttConnectError(f"the broker {where} refused the TCP connection") from None
    except OSError as exc:
        raise MqttConnectError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    if context is None:
        return sock
    try:
        # wrap_socket takes the file descriptor over: from here on, close `sock` via it
        sock = context.wrap_socket(
            sock, server_hostname=settings.host, do_handshake_on_connect=False
        )
        sock.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        against = f"the CA file {settings.ca_file!r}" if settings.ca_file else "the system CAs"
        raise MqttTlsError(
            f"TLS: the certificate of the broker {where} failed verification "
            f"({exc.verify_message}) against {against}"
        ) from None
    except ssl.SSLError as exc:
        sock.close()
        raise MqttTlsError(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        sock.close()
        raise MqttTlsError(f"TLS handshake with {where} timed out") from None
    except OSError as exc:
        sock.close()
        raise MqttTlsError(
            f"TLS handshake with {where} failed: {exc.strerror or exc} "
            "(does the broker require a client certificate, or is this not a TLS port?)"
        ) from None
    return sock
