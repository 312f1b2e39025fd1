"""mDNS: herald's advertisement as zeroconf's own browser sees it, on loopback."""

from __future__ import annotations

import time

import pytest
import trio
from zeroconf import ServiceBrowser as Browser
from zeroconf import ServiceStateChange, Zeroconf

from esphome_support import KEY, FakeSpeakerPort, settings
from herald.esphome.mdns import SERVICE_TYPE
from herald.esphome.server import EsphomeServer


def _lookup(name: str) -> tuple[list[str], dict[str, str], int, str | None, list[str]]:
    """Browse like Home Assistant: wait for the service, then resolve it (blocking)."""
    zc = Zeroconf(interfaces=["127.0.0.1"])
    try:
        found: list[str] = []

        def on_change(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            if state_change is ServiceStateChange.Added:
                found.append(name)

        browser = Browser(zc, SERVICE_TYPE, handlers=[on_change])
        try:
            info = zc.get_service_info(SERVICE_TYPE, name, timeout=5000)
            for _ in range(500):  # the browser's callback runs on zeroconf's thread
                if name in found:
                    break
                time.sleep(0.01)
        finally:
            browser.cancel()
        assert info is not None, f"{name} not found"
        props = {
            k.decode(): (v or b"").decode() for k, v in info.properties.items() if k is not None
        }
        return found, props, info.port or 0, info.server, info.parsed_addresses()
    finally:
        zc.close()


@pytest.mark.parametrize("key", [None, KEY])
async def test_home_assistant_can_discover_herald(nursery: trio.Nursery, key: str | None) -> None:
    name = "herald-mdns-test" if key is None else "herald-mdns-key"
    server = EsphomeServer(
        settings(name=name, key=key, advertise=True, mdns_addresses=("127.0.0.1",)),
        FakeSpeakerPort(),
    )
    await nursery.start(server.run)
    service = f"{name}.{SERVICE_TYPE}"
    found, props, port, host, addresses = await trio.to_thread.run_sync(_lookup, service)
    assert found == [service]  # the browse Home Assistant runs finds it
    assert port == server.bound_port
    assert host == f"{name}.local."
    assert addresses == ["127.0.0.1"]
    assert props["mac"] == "dca632010203"
    assert props["friendly_name"] == "Kitchen speaker"
    assert props["platform"] == "host"
    assert props["project_version"] == "0.1.0"
    assert ("api_encryption" in props) == (key is not None)
    if key is not None:
        assert props["api_encryption"] == "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
        assert KEY not in repr(props)
