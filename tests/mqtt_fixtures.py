"""pytest fixtures for tests against a real mosquitto (a plugin module:
``pytest_plugins = ["mqtt_fixtures"]`` in conftest.py).

Tests are skipped when the ``mosquitto`` binary is not installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import trustme

from mosquitto import DynsecAcls, Mosquitto, MosquittoFactory


@pytest.fixture(scope="session")
def mqtt_ca() -> trustme.CA:
    """A test CA for the brokers' TLS listeners (and client certificates)."""
    return trustme.CA()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Make started brokers (options as `Mosquitto`); all are killed after the test."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    brokers: list[Mosquitto] = []

    def make(
        *,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        ca: trustme.CA | None = None,
        require_certificate: bool = False,
        acl: Sequence[str] | None = None,
        dynsec: DynsecAcls | None = None,
    ) -> Mosquitto:
        broker = Mosquitto(
            tmp_path / f"mosquitto-{len(brokers)}",
            users=users,
            allow_anonymous=allow_anonymous,
            ca=ca,
            require_certificate=require_certificate,
            acl=acl,
            dynsec=dynsec,
        )
        brokers.append(broker)
        broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in brokers:
            broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started broker: anonymous, plain listener on ``mosquitto.port``."""
    return mosquitto_factory()
