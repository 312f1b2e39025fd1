"""Whether herald hears its topics: SUBACK verdicts, the delivery probe, the ACL fix.

A broker may refuse a subscription in its SUBACK (MQTT v5 reason code 0x80 or above;
0x87 "Not authorized" when an ACL denies it: mosquitto's dynamic-security plugin,
EMQX, HiveMQ...). mosquitto's ``acl_file`` never does: it grants every subscription and
checks read access only when it delivers a message (its acl_file check returns success
for every subscribe, "FIXME - implement ACL subscription strings", in 1.x, 2.0 and the
acl-file plugin alike; measured with 2.0.11: SUBACK "Granted QoS 1" for a topic the
user may not read, then nothing delivered). So after the SUBACK the adapter can check
delivery itself: it publishes one small probe (QoS1, user property `PROBE_KEY`, expiry
`PROBE_EXPIRY`) to each topic it should hear and waits for it to come back
(`DeliveryProbe`). Every herald adapter drops probes before they reach the daemon.

No I/O here: the adapter feeds `DeliveryProbe` what happened and when.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROBE_KEY = "herald-probe"  # MQTT v5 user property; its value is the probe's token
PROBE_PAYLOAD = b'{"herald_probe": true}'  # an older herald rejects it, never acts on it
PROBE_EXPIRY = 10  # seconds: a probe nobody took by then is dropped by the broker
PROBE_QUIET = 2.0  # seconds without any incoming message after the PUBACK: not delivered
PROBE_LIMIT = 60.0  # seconds: no verdict by then (inflight window never cleared): untested


class Hearing(enum.Enum):
    PENDING = "pending"  # not subscribed yet on this connection, or the probe is out
    GRANTED = "granted"  # SUBACK success; delivery not probed
    HEARD = "heard"  # the probe came back
    REFUSED = "refused"  # SUBACK failure
    SILENT = "silent"  # SUBACK success, but the broker does not deliver
    UNTESTED = "untested"  # SUBACK success; the probe could not tell (e.g. no write access)


@dataclass(frozen=True, slots=True)
class TopicHearing:
    """The verdict on one subscribed topic; ``reason`` says why, for people."""

    topic: str
    hearing: Hearing
    reason: str = ""
    code: str = ""  # the broker's reason code, for a refused subscription

    @property
    def denied(self) -> bool:
        """herald hears nothing on this topic."""
        return self.hearing in (Hearing.REFUSED, Hearing.SILENT)

    @property
    def settled(self) -> bool:
        return self.hearing is not Hearing.PENDING


def refused(topic: str, code: str) -> TopicHearing:
    reason = f"the broker refused the subscription ({code})"
    return TopicHearing(topic, Hearing.REFUSED, reason, code)


class DeliveryProbe:
    """Verdicts for probes sent at ``started`` to ``topics`` (sans-I/O).

    Tell it every PUBACK (`puback`), every probe that came back (`heard`) and the time
    of every other incoming message or acknowledgement (`arrival`). A probe the broker
    accepted (PUBACK success) is *silent* once nothing at all has arrived for
    `PROBE_QUIET` seconds after its PUBACK while the inflight window is open: the broker
    delivers in order, so messages still queued for herald (commands waiting while it
    was away) arrive first and keep the probe alive. A PUBACK "No matching subscribers"
    (0x10) proves it at once. A refused PUBACK (no write access) leaves it untested.
    """

    def __init__(
        self,
        token: str,
        topics: Iterable[str],
        started: float,
        *,
        quiet: float = PROBE_QUIET,
        limit: float = PROBE_LIMIT,
    ) -> None:
        self.token = token
        self._waiting = set(topics)
        self._quiet = quiet
        self._give_up = started + limit
        self._last_arrival = started
        self._accepted: dict[str, float] = {}  # topic -> time of its successful PUBACK
        self.results: dict[str, TopicHearing] = {}

    @property
    def done(self) -> bool:
        return not self._waiting

    def _decide(self, topic: str, hearing: Hearing, reason: str = "") -> None:
        if topic in self._waiting:
            self._waiting.discard(topic)
            self._accepted.pop(topic, None)
            self.results[topic] = TopicHearing(topic, hearing, reason)

    def heard(self, topic: str) -> None:
        self._decide(topic, Hearing.HEARD)

    def arrival(self, now: float) -> None:
        self._last_arrival = max(self._last_arrival, now)

    def puback(self, topic: str, now: float, code: str, *, failure: bool, no_match: bool) -> None:
        if failure:
            reason = f"delivery not tested: the broker refused herald's test message ({code})"
            self._decide(topic, Hearing.UNTESTED, reason)
        elif no_match:
            reason = (
                "the broker accepted the subscription, but answered a test message with "
                f'"{code}": it does not deliver this topic to herald'
            )
            self._decide(topic, Hearing.SILENT, reason)
        elif topic in self._waiting:
            self._accepted[topic] = now

    def unsent(self, topic: str, why: str) -> None:
        self._decide(topic, Hearing.UNTESTED, f"delivery not tested: {why}")

    def settle(self, now: float, *, window_full: bool) -> float | None:
        """Decide what is overdue; the time of the next decision, None once done."""
        if now >= self._give_up:
            for topic in sorted(self._waiting):
                self._decide(topic, Hearing.UNTESTED, "delivery not tested: no answer in time")
            return None
        if window_full:  # the broker may not send more until herald acknowledges some
            return self._give_up
        for topic, acked in list(self._accepted.items()):
            if now >= max(acked, self._last_arrival) + self._quiet:
                reason = (
                    "the broker accepted the subscription but did not deliver a test "
                    "message (mosquitto's acl_file checks read access only on delivery)"
                )
                self._decide(topic, Hearing.SILENT, reason)
        if self.done:
            return None
        deadlines = [max(t, self._last_arrival) + self._quiet for t in self._accepted.values()]
        return min([self._give_up, *deadlines])


# --- what to tell people ---


def _under(topic: str, prefix: str) -> bool:
    return bool(prefix) and topic.startswith(f"{prefix}/")


def acl_lines(topics: Sequence[str], prefix: str) -> list[str]:
    """mosquitto acl_file lines that let herald hear ``topics``: its own tree readwrite
    (herald also publishes there), anything else read-only."""
    lines = [f"topic readwrite {prefix}/#"] if any(_under(t, prefix) for t in topics) else []
    return lines + [f"topic read {t}" for t in topics if not _under(t, prefix)]


def acl_fix(topics: Sequence[str], username: str | None, prefix: str) -> str:
    """How to let ``username`` (None: anonymous) read ``topics``, for a mosquitto broker."""
    who = f"user {username!r}" if username else "anonymous clients"
    where = f'under "user {username}"' if username else 'before any "user" line'
    lines = "; ".join(acl_lines(topics, prefix))
    return (
        f"let {who} read {', '.join(topics)} in the broker's ACL (mosquitto acl_file, "
        f"{where}: {lines}; then systemctl reload mosquitto)"
    )


def denial_message(verdict: TopicHearing, username: str | None, prefix: str) -> str:
    """One log line: the topic, why herald hears nothing there, and the fix."""
    return (
        f"MQTT: herald hears nothing on {verdict.topic}: {verdict.reason}; "
        f"fix: {acl_fix([verdict.topic], username, prefix)}"
    )
