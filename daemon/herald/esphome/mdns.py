"""mDNS: herald advertised as ``<name>._esphomelib._tcp.local.``, on python-zeroconf.

The only module importing zeroconf (and ifaddr, which zeroconf itself uses for the
interface list). zeroconf runs its own thread and asyncio loop; herald calls into it
only through `trio.to_thread` (registering probes the network for about 1.5 s) and
takes no callbacks from it, so nothing of zeroconf's runs on the trio thread.

The TXT record carries what ESPHome devices carry and Home Assistant reads: ``mac``
(its unique id; without it the discovery is ignored), ``version``, ``friendly_name``,
``platform``, ``board``, ``network``, ``project_name``/``project_version``, and
``api_encryption`` when a key is set. The addresses are re-read every
`ADDRESS_CHECK_S` and the record updated when they change (a new DHCP lease).
"""

from __future__ import annotations

import ipaddress
import logging

import trio
from zeroconf import NonUniqueNameException, ServiceInfo, Zeroconf

from herald.esphome.entities import ESPHOME_COMPAT_VERSION
from herald.esphome.noise import NOISE_PROTOCOL
from herald.esphome.settings import EsphomeSettings

__all__ = ["SERVICE_TYPE", "MdnsAdvertiser", "service_properties"]

log = logging.getLogger("herald.esphome")

SERVICE_TYPE = "_esphomelib._tcp.local."
ADDRESS_CHECK_S = 300.0
_CLOSE_S = 3.0  # unregistering says goodbye on the network; bounded at shutdown


def service_properties(settings: EsphomeSettings) -> dict[str, str]:
    props = {
        "mac": settings.mac_hex,
        "version": ESPHOME_COMPAT_VERSION,
        "friendly_name": settings.friendly_name,
        "platform": "host",
        "board": "host",
        "network": "ethernet",
        "project_name": "herald.speaker",
        "project_version": settings.version,
    }
    if settings.key is not None:
        props["api_encryption"] = NOISE_PROTOCOL
    return props


def _local_addresses() -> list[str]:
    """This machine's addresses that another host could reach (no loopback, no
    link-local IPv6, which Home Assistant cannot use without a scope)."""
    import ifaddr

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                continue
            if addr.is_loopback or addr.is_link_local or addr.is_multicast:
                continue
            if str(addr) not in found:
                found.append(str(addr))
    return found


class MdnsAdvertiser:
    """Advertises the server on ``port`` until cancelled; never fails the daemon."""

    def __init__(self, settings: EsphomeSettings, port: int) -> None:
        self._s = settings
        self._port = port

    def _addresses(self) -> list[str]:
        fixed = self._s.mdns_addresses
        return list(fixed) if fixed is not None else _local_addresses()

    def service_info(self, addresses: list[str]) -> ServiceInfo:
        name = self._s.name
        return ServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            port=self._port,
            properties=service_properties(self._s),
            server=f"{name}.local.",
            parsed_addresses=addresses,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        interfaces = list(self._s.mdns_addresses) if self._s.mdns_addresses is not None else None
        task_status.started()  # the network probe takes seconds: nobody waits for it
        try:
            zc = await trio.to_thread.run_sync(_open_zeroconf, interfaces)
        except OSError as exc:
            log.error(
                "mDNS: cannot open the multicast socket (%s); Home Assistant will "
                "not discover herald, add it by host and port",
                exc.strerror or exc,
            )
            return
        registered: ServiceInfo | None = None
        try:
            addresses = self._addresses()
            info = self.service_info(addresses)
            try:
                await trio.to_thread.run_sync(zc.register_service, info)
                registered = info
                log.info(
                    "mDNS: advertising %s on port %d (%s)",
                    info.name,
                    self._port,
                    ", ".join(addresses) or "no address yet",
                )
            except NonUniqueNameException:
                log.error(
                    "mDNS: another device already advertises %s; set esphome.name to a "
                    "name of its own",
                    info.name,
                )
                await trio.sleep_forever()
            while True:
                await trio.sleep(ADDRESS_CHECK_S)
                now = self._addresses()
                if now != addresses:
                    addresses = now
                    info = self.service_info(addresses)
                    await trio.to_thread.run_sync(zc.update_service, info)
                    registered = info
                    log.info("mDNS: addresses now %s", ", ".join(addresses) or "none")
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_S):
                await trio.to_thread.run_sync(
                    _close_zeroconf, zc, registered, abandon_on_cancel=True
                )


def _open_zeroconf(interfaces: list[str] | None) -> Zeroconf:
    if interfaces is None:
        return Zeroconf()
    return Zeroconf(interfaces=interfaces)


def _close_zeroconf(zc: Zeroconf, info: ServiceInfo | None) -> None:
    try:
        if info is not None:
            zc.unregister_service(info)
    finally:
        zc.close()
