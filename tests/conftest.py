"""Shared fixtures: the Cartesia emulator, plain and over TLS with a test CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from cartesia_emulator import Emulator

pytest_plugins = ["mqtt_fixtures", "daemon_fixtures"]


@pytest.fixture
def api_key() -> str:
    return "sk_car_test"


@pytest.fixture
async def emulator(nursery: trio.Nursery, api_key: str) -> AsyncIterator[Emulator]:
    """A plain ws:// + http:// emulator, served until the test ends."""
    emu = Emulator(api_keys=frozenset({api_key}))
    await nursery.start(emu.serve)
    yield emu


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA's certificate as a PEM file (for SSL_CERT_FILE, httpx verify=, ...)."""
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def tls_emulator(
    nursery: trio.Nursery, api_key: str, tls_ca: trustme.CA
) -> AsyncIterator[Emulator]:
    """A wss:// + https:// emulator whose certificate (127.0.0.1, localhost) the CA signs."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    emu = Emulator(api_keys=frozenset({api_key}), ssl_context=context)
    await nursery.start(emu.serve)
    yield emu
