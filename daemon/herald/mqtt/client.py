"""The MQTT adapter: paho-mqtt 2.x (MQTT v5) driven by trio (see `driver`).

The session is persistent (clean_start=False, SessionExpiryInterval, stable client id),
so QoS1 commands published while herald is away wait at the broker; incoming QoS1
messages are acknowledged manually, by `MqttClient.ack`, once handled, so a killed
daemon loses none. Any failure ends the connection and `run` reconnects with `Backoff`
(0.5 s doubling to 30 s). Every paho callback is `contained`: no exception reaches paho.

After every SUBACK the client knows which subscriptions the broker refused, and checks
delivery on the others the settings pick with a probe (`herald.mqtt.hearing`); the
verdicts are in ``hearing``, the topics herald cannot hear in ``denied``, and each topic
that becomes deaf gets one ERROR line naming it, the reason and the ACL fix.
"""

from __future__ import annotations

import collections
import logging
import random
import secrets
import socket
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
import trio
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from herald.backoff import Backoff
from herald.mqtt.broker import Message, MqttStatistics
from herald.mqtt.driver import (
    OK,
    SocketDriver,
    contained,
    error_text,
    make_paho_client,
    to_message,
)
from herald.mqtt.errors import MqttConnectError, MqttConnectionLost, MqttError, MqttRefused, scrub
from herald.mqtt.hearing import (
    PROBE_EXPIRY,
    PROBE_KEY,
    PROBE_PAYLOAD,
    DeliveryProbe,
    Hearing,
    TopicHearing,
    denial_message,
    refused,
)
from herald.mqtt.limit import LimitedSocket, PublishLimiter
from herald.mqtt.settings import MqttSettings
from herald.mqtt.tls import open_connection
from herald.observable import Observable

log = logging.getLogger("herald.mqtt")

RECEIVE_MAXIMUM = 16  # unacknowledged QoS1 messages the broker may have in flight to us
QUEUE_SIZE = 64  # > RECEIVE_MAXIMUM: only a flood of QoS0 can crowd a QoS1 command out
# Read ahead of a full `messages` (in order, handed on as it empties), so that the
# broker's PUBACKs, which arrive behind its messages, still reach us while the router
# waits for them (outbound_room); past this the reader stops reading the socket.
INBOX_MESSAGES = 4096
INBOX_BYTES = 2 << 20
MAX_QUEUED_OUT = 1000  # paho's outgoing queue (its default is unbounded)
# `outbound_room` waits while this many of our QoS1 publications await their PUBACK, so
# that a flood of commands is answered at the pace the broker takes the answers (their
# events) instead of overflowing paho's queue; at most OUTBOUND_WAIT_S per call, in case
# the PUBACKs stop coming (keepalive then ends the connection).
PUBLISH_WINDOW = 100
OUTBOUND_WAIT_S = 2.0
SHUTDOWN_GRACE = 1.0  # for the final PUBACKs, then again for the DISCONNECT


def _open_connection(settings: MqttSettings) -> socket.socket:
    """`open_connection` in a worker thread, closing the socket if trio gave up on it."""
    sock = open_connection(settings)
    try:
        trio.from_thread.check_cancelled()
    except trio.Cancelled:
        sock.close()
        raise
    return sock


class MqttClient:
    """The MQTT adapter (implements `herald.mqtt.Broker`).

    ``subscriptions``: (topic filter, QoS 0 or 1), subscribed on every connect.
    ``online_messages``: (topic, payload, retain), published with QoS1 after every
    connect (e.g. retained ``online`` on the availability topic).
    ``ignore_retained``: retained messages are not wanted (a retained ``say`` must not
    replay at every start): subscribe with "do not send retained", and acknowledge and
    drop any message still flagged retain. False: deliver them with ``retain=True``.

    Observe ``connected`` (True once connected and subscribed), ``status`` (one line,
    never a credential), ``last_error`` (the last MqttError, None once connected),
    ``hearing`` (a `TopicHearing` per subscription, in order), ``denied`` (the topics
    herald hears nothing on: refused in the SUBACK, or accepted but not delivered) and
    ``stats``. Incoming messages arrive on ``messages``; while it is full, up to
    INBOX_MESSAGES more are read ahead (so that the PUBACKs behind them arrive), then the
    socket is not read (backpressure: the broker holds back what follows, nothing is
    dropped, QoS 0 included). Delivery probes (anyone's: doctor's too) are acknowledged
    and dropped, never delivered.
    """

    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: Sequence[tuple[str, int]],
        *,
        online_messages: Sequence[tuple[str, bytes | str, bool]] = (),
        ignore_retained: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        for topic, qos in subscriptions:
            if qos not in (0, 1):
                raise ValueError(f"subscription {topic!r}: QoS {qos}; only 0 and 1 are supported")
        handling = (
            SubscribeOptions.RETAIN_DO_NOT_SEND
            if ignore_retained
            else SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
        )
        self.settings = settings
        self._subscriptions = [
            (topic, SubscribeOptions(qos=qos, retainHandling=handling))
            for topic, qos in subscriptions
        ]
        self._online = tuple(online_messages)
        self._ignore_retained = ignore_retained
        self._where = f"{settings.host}:{settings.port}"
        self.connected = Observable(False)
        self.hearing = Observable(
            tuple(TopicHearing(topic, Hearing.PENDING) for topic, _ in subscriptions)
        )
        self.denied: Observable[tuple[str, ...]] = Observable(())
        self.status = "not started"
        self.last_error: MqttError | None = None
        self.stats = MqttStatistics()
        self._send, self.messages = trio.open_memory_channel[Message](QUEUE_SIZE)
        self._inbox: collections.deque[Message] = collections.deque()
        self._inbox_bytes = 0
        self._inbox_changed = trio.Event()  # for the pump: something to hand on
        self._inbox_room = trio.Event()  # for the reader: the inbox is below its bound
        self._backoff = Backoff(0.5, 30.0, rng=rng or random.Random())
        self._marker = f"herald-oversize-{secrets.token_hex(4)}"  # cannot be forged
        self._paho = make_paho_client(
            settings, receive_maximum=RECEIVE_MAXIMUM, max_queued=MAX_QUEUED_OUT
        )
        self._driver = SocketDriver(self._paho, self._hand_on)
        self._paho.on_connect = self._on_connect
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_publish = self._on_publish
        self._paho.on_message = self._on_message
        self._paho.on_log = self._on_log
        self._run_scope = trio.CancelScope()
        self._running = False
        self._stopping = False
        self._done = trio.Event()
        # per connection
        self._conn_scope: trio.CancelScope | None = None
        self._connection = 0
        self._unacked: set[int] = set()
        self._lost: MqttError | None = None
        self._connack: tuple[ReasonCode, bool] | None = None
        self._connack_event = trio.Event()
        self._suback: dict[int, list[ReasonCode]] = {}
        self._suback_event = trio.Event()
        self._publish_waits: dict[int, trio.Event] = {}
        self._outstanding: set[int] = set()  # our QoS1 publications awaiting a PUBACK
        self._outbound_changed = trio.Event()
        self._reader_waiting = False  # the reader waits: its read-ahead (the inbox) is full
        self._conn_nursery: trio.Nursery | None = None
        self._held = 0  # QoS1 messages dropped unacknowledged: they hold inflight slots
        self._probe: DeliveryProbe | None = None
        self._probe_mids: dict[int, str] = {}
        self._probe_changed = trio.Event()

    # --- the service ---

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, and reconnect with backoff, until cancelled or `shutdown`.

        Reports started at once, before the first connect: wait for the broker with
        ``await client.connected.wait_until(bool)`` (under the caller's timeout). A
        client runs once; when `run` ends, ``messages`` is closed. Cancelling `run`
        drops the connection without DISCONNECT, so the broker publishes the last will.
        """
        if self._running or self._done.is_set():
            raise RuntimeError("MqttClient.run() can run only once")
        self._running = True
        task_status.started()
        try:
            with self._run_scope:
                while True:
                    try:
                        await self._connect_once()
                    except MqttError as exc:
                        if self._stopping:
                            break
                        self._note_failure(exc)
                    except Exception as exc:  # a bug: staying up and retrying beats dying
                        log.exception("MQTT: internal error")
                        self._note_failure(MqttError(f"internal error ({type(exc).__name__})"))
                    delay = self._backoff.next_delay()
                    self.status = f"{self.status}; retrying in {delay:.1f} s"
                    await trio.sleep(delay)
        finally:
            self._running = False
            self.connected.set(False)
            self._driver.close()
            self._send.close()
            self._done.set()

    def _note_failure(self, error: MqttError) -> None:
        text = scrub(str(error), self.settings.password)
        repeated = self.last_error is not None and str(self.last_error) == str(error)
        self.last_error = error
        self.status = text
        log.log(logging.DEBUG if repeated else logging.WARNING, "MQTT: %s", text)

    async def _connect_once(self) -> None:
        s = self.settings
        self.status = f"connecting to {self._where}"
        raw = await trio.to_thread.run_sync(_open_connection, s, abandon_on_cancel=True)
        sock = LimitedSocket(raw, PublishLimiter(s.max_payload, self._marker))
        self._connection += 1
        self._unacked.clear()
        self._outstanding.clear()  # paho sends them again: a count that errs low is safe
        self._inbox.clear()  # of the connection before: the broker sends them again
        self._inbox_bytes = 0
        self._held = 0
        self._lost = None
        self._connack = None
        self._connack_event = trio.Event()
        try:
            rc = self._driver.start(sock)  # paho takes `sock` and queues CONNECT
            if rc != OK:
                raise MqttConnectionLost(f"cannot send CONNECT: {error_text(rc)}")
            async with trio.open_nursery() as nursery:
                self._conn_scope = nursery.cancel_scope
                self._conn_nursery = nursery
                nursery.start_soon(self._driver.serve, sock, self._drop)
                nursery.start_soon(self._pump)
                await self._handshake()
                await trio.sleep_forever()  # until _drop cancels the connection
        finally:
            self._conn_scope = None
            self._conn_nursery = None
            self.connected.set(False)
            self._outbound_changed.set()
            self._driver.close()
        raise self._lost or MqttConnectionLost("connection ended")

    async def _handshake(self) -> None:
        timeout = self.settings.connect_timeout
        with trio.move_on_after(timeout):
            await self._connack_event.wait()
        if self._connack is None:
            return self._drop(MqttConnectError(f"no CONNACK from {self._where} in {timeout:g} s"))
        reason, session_present = self._connack
        if reason.is_failure:
            return  # _on_connect has dropped the connection
        if self._subscriptions:
            self._suback.clear()
            self._suback_event = trio.Event()
            rc, mid = self._paho.subscribe(self._subscriptions)
            if rc != OK or mid is None:
                return self._drop(MqttConnectionLost(f"cannot subscribe: {error_text(rc)}"))
            with trio.move_on_after(timeout):
                await self._suback_event.wait()
            codes = self._suback.pop(mid, None)
            if codes is None:
                return self._drop(MqttConnectionLost(f"no SUBACK in {timeout:g} s"))
            probed = self._read_suback(codes)
        else:
            probed = []
        for topic, payload, retain in self._online:
            self._publish(topic, payload, 1, retain)
        self.stats.connects += 1
        self._backoff.reset()
        self.last_error = None
        self.status = f"connected to {self._where}"
        session = "resumed" if session_present else "new"
        log.info("MQTT: connected to %s, %s session", self._where, session)
        self.connected.set(True)
        if probed and self._conn_nursery is not None:
            self._conn_nursery.start_soon(self._check_delivery, probed)

    # --- does herald hear its topics? ---

    def _read_suback(self, codes: Sequence[ReasonCode]) -> list[str]:
        """Record the SUBACK's verdicts; the granted topics whose delivery to check."""
        verdicts: dict[str, TopicHearing] = {}
        probed: list[str] = []
        previous = {h.topic: h for h in self.hearing.value}
        for (topic, _), code in zip(self._subscriptions, codes, strict=False):
            if code.is_failure:
                verdicts[topic] = refused(topic, str(code))
            elif self.settings.probes(topic):
                probed.append(topic)
                # Until the probe answers, the last verdict stands (no flapping).
                verdicts[topic] = previous[topic]
            else:
                verdicts[topic] = TopicHearing(topic, Hearing.GRANTED)
        self._set_hearing(verdicts)
        return probed

    def _set_hearing(self, verdicts: dict[str, TopicHearing]) -> None:
        user, prefix = self.settings.username, self.settings.topic_prefix
        merged = []
        for old in self.hearing.value:
            new = verdicts.get(old.topic, old)
            if new.denied and (not old.denied or new.hearing != old.hearing):
                log.error("%s", denial_message(new, user, prefix))
            elif old.denied and new.settled and not new.denied:
                log.info("MQTT: herald hears %s now (%s)", new.topic, new.hearing.value)
            merged.append(new)
        self.hearing.set(tuple(merged))
        self.denied.set(tuple(h.topic for h in merged if h.denied))

    async def _check_delivery(self, topics: Sequence[str]) -> None:
        """Probe each topic once; verdicts land in ``hearing`` as they come."""
        probe = DeliveryProbe(secrets.token_hex(8), topics, trio.current_time())
        self._probe, self._probe_mids = probe, {}
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.UserProperty = (PROBE_KEY, probe.token)
        properties.MessageExpiryInterval = PROBE_EXPIRY
        try:
            for topic in topics:
                info = self._paho.publish(topic, PROBE_PAYLOAD, qos=1, properties=properties)
                if info.rc in (OK, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    self._probe_mids[info.mid] = topic
                else:
                    probe.unsent(topic, error_text(info.rc))
            while True:
                full = len(self._unacked) + self._held >= RECEIVE_MAXIMUM
                wake = probe.settle(trio.current_time(), window_full=full)
                self._set_hearing(dict(probe.results))
                if wake is None:
                    return
                self._probe_changed = trio.Event()
                with trio.move_on_at(wake):
                    await self._probe_changed.wait()
        finally:
            self._probe, self._probe_mids = None, {}

    def _probe_token(self, msg: paho.MQTTMessage) -> str | None:
        for key, value in getattr(msg.properties, "UserProperty", None) or ():
            if key == PROBE_KEY:
                return str(value)
        return None

    def _drop(self, error: MqttError) -> None:
        """End the current connection; the first reason given is the one reported."""
        if self._lost is None:
            self._lost = error
        if self._conn_scope is not None:
            self._conn_scope.cancel()

    # --- the daemon's side ---

    async def wait_settled(self) -> None:
        """Wait for the first connect or the first failure (then see ``connected`` and
        ``last_error``). For one-shot tools: the daemon itself just keeps retrying."""
        # last_error is a plain attribute (no event to wait on): poll it.
        while not self.connected.value and self.last_error is None:  # noqa: ASYNC110
            await trio.sleep(0.02)

    def ack(self, message: Message) -> None:
        """Acknowledge a handled QoS1 message (no-op for QoS0). Never raises.

        Only the connection a message arrived on can acknowledge it: after a reconnect
        the broker redelivers it (``dup``), and that copy is the one to acknowledge.
        """
        if message.qos == 0 or message.connection != self._connection:
            return
        if message.mid not in self._unacked:
            return  # already acknowledged; its packet id may name another message by now
        self._unacked.discard(message.mid)
        if self._probe is not None:  # a free inflight slot: the broker may send on now
            self._probe.arrival(trio.current_time())
            self._probe_changed.set()
        rc = self._paho.ack(message.mid, message.qos)
        if rc != OK:
            log.debug("MQTT: acknowledgement of %d not sent: %s", message.mid, error_text(rc))

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue a message for the broker; returns without waiting for the PUBACK.

        Never raises for a missing connection: QoS1 messages wait in paho's queue (up to
        MAX_QUEUED_OUT, then dropped and counted) and go out after the next connect;
        QoS0 ones are dropped while disconnected. An invalid topic raises ValueError.
        """
        await trio.lowlevel.checkpoint()
        mid = self._publish(topic, payload, qos, retain)
        if mid is not None:
            self._outstanding.add(mid)

    async def outbound_room(self) -> None:
        """Wait (at most OUTBOUND_WAIT_S) while PUBLISH_WINDOW of our QoS1 messages await
        their PUBACK, for the daemon to take its next command only then.

        Never while the reader itself waits, its read-ahead full (a flood of QoS0
        commands): the PUBACKs arrive behind those commands on the same socket, so
        waiting for them there would wait for ourselves. A flood of QoS1 commands stays
        within the read-ahead (mosquitto 2.0 sends more than RECEIVE_MAXIMUM
        unacknowledged, but hundreds, not thousands), so its answers are paced, not
        dropped."""
        await trio.lowlevel.checkpoint()
        with trio.move_on_after(OUTBOUND_WAIT_S):
            while (
                len(self._outstanding) >= PUBLISH_WINDOW
                and self.connected.value
                and not self._reader_waiting
            ):
                self._outbound_changed = trio.Event()
                await self._outbound_changed.wait()

    def _publish(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> int | None:
        """Hand a message to paho; the mid when paho took a QoS1 message, else None."""
        if self._done.is_set():
            log.debug("MQTT: not published to %s: the client has stopped", topic)
            return None
        info = self._paho.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self.stats.publish_dropped += 1
            log.warning("MQTT: outgoing queue full, dropped a message to %s", topic)
            return None
        return info.mid if qos else None

    async def shutdown(self, final: Sequence[tuple[str, bytes | str, bool]] = ()) -> None:
        """Publish ``final`` with QoS1 (e.g. retained ``offline``), wait for their PUBACKs
        (up to SHUTDOWN_GRACE), disconnect cleanly (the broker drops the last will,
        so this must come last) and stop `run`. Unacknowledged messages stay with the
        broker for the next start. Returns within about 2 * SHUTDOWN_GRACE.
        """
        if self._stopping:
            return
        self._stopping = True
        online = self.connected.value
        waits = []
        for topic, payload, retain in final:
            mid = self._publish(topic, payload, 1, retain)
            if mid is not None and online:
                waits.append(self._publish_waits.setdefault(mid, trio.Event()))
        with trio.move_on_after(SHUTDOWN_GRACE):
            for event in waits:
                await event.wait()
        if self.connected.value:
            self._paho.disconnect()  # reason 0, normal disconnection: no last will
            with trio.move_on_after(SHUTDOWN_GRACE):
                await self._done.wait()
        self._run_scope.cancel()
        if self._running:
            await self._done.wait()
        self._send.close()

    # --- paho callbacks: all on the trio thread, all `contained` ---

    @contained
    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: ConnectFlags, reason: ReasonCode, *_: Any
    ) -> None:
        if reason.is_failure:
            message = f"the broker {self._where} refused the connection: {reason}"
            if reason.value in (0x86, 0x87):  # bad user name or password, not authorized
                message += "; check the MQTT user name and password"
            self._drop(MqttRefused(message, reason.value))
        self._connack = (reason, flags.session_present)
        self._connack_event.set()

    @contained
    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        *_: Any,
    ) -> None:
        if flags.is_disconnect_packet_from_server:
            self._drop(MqttConnectionLost(f"the broker closed the connection: {reason}"))
        elif reason.value in (0x00, 0x80):  # no reason worth telling
            self._drop(MqttConnectionLost(f"connection to the broker {self._where} lost"))
        else:
            self._drop(MqttConnectionLost(f"connection to {self._where} lost: {reason}"))

    @contained
    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, codes: list[ReasonCode], *_: Any
    ) -> None:
        self._suback[mid] = codes
        self._suback_event.set()

    @contained
    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, *_: Any
    ) -> None:
        self._outstanding.discard(mid)
        if len(self._outstanding) < PUBLISH_WINDOW:
            self._outbound_changed.set()
        topic = self._probe_mids.pop(mid, None)
        if topic is not None and self._probe is not None:
            failure, no_match = reason.is_failure, reason.value == 0x10  # No matching subscribers
            self._probe.puback(
                topic, trio.current_time(), str(reason), failure=failure, no_match=no_match
            )
            self._probe_changed.set()
            return
        if reason.is_failure:
            log.warning("MQTT: the broker refused publication %d: %s", mid, reason)
        event = self._publish_waits.pop(mid, None)
        if event is not None:
            event.set()

    @contained
    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.stats.received += 1
        token = self._probe_token(msg)
        if token is not None:  # herald's or doctor's delivery probe: never a command
            log.debug("MQTT: dropped a delivery probe on %s", msg.topic)
            self._paho.ack(msg.mid, msg.qos)
            if self._probe is not None and token == self._probe.token:
                self._probe.heard(msg.topic)
                self._probe_changed.set()
            return
        if self._probe is not None:  # anything arriving may be a backlog ahead of a probe
            self._probe.arrival(trio.current_time())
            self._probe_changed.set()
        try:
            message = self._to_message(msg)  # a method, so tests can make it fail
        except Exception:
            log.exception("MQTT: unreadable message %d, acknowledged and dropped", msg.mid)
            self._paho.ack(msg.mid, msg.qos)
            return
        self.stats.oversize += message.oversize
        if message.retain and self._ignore_retained:
            self.stats.retained_ignored += 1
            log.info("MQTT: ignored a retained message on %s", message.topic)
            self._paho.ack(msg.mid, msg.qos)
            return
        # Handed on by `_pump`; the reader (`_hand_on`) stops reading the socket while
        # the inbox is full, so a consumer that falls behind slows the broker down
        # instead of losing messages.
        self._inbox.append(message)
        self._inbox_bytes += len(message.payload)
        if message.qos:
            self._unacked.add(message.mid)

    def _inbox_full(self) -> bool:
        return len(self._inbox) >= INBOX_MESSAGES or self._inbox_bytes >= INBOX_BYTES

    async def _hand_on(self) -> None:
        """After each read: wake the pump, and wait while the inbox is full."""
        if self._inbox:
            self._inbox_changed.set()
        while self._inbox_full():
            self._reader_waiting = True
            self._outbound_changed.set()  # see outbound_room
            self._inbox_room = trio.Event()
            try:
                await self._inbox_room.wait()
            finally:
                self._reader_waiting = False

    async def _pump(self) -> None:
        """Hand the inbox on to ``messages``, in order, waiting while it is full."""
        while True:
            while not self._inbox:
                self._inbox_changed = trio.Event()
                await self._inbox_changed.wait()
            message = self._inbox[0]
            try:
                await self._send.send(message)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                # Stopping: unacknowledged, the broker keeps them.
                self._inbox.clear()
                self._inbox_bytes = 0
                self._inbox_room.set()
                return
            self._inbox.popleft()  # only once sent: a cancelled send sent nothing
            self._inbox_bytes -= len(message.payload)
            if not self._inbox_full():
                self._inbox_room.set()

    def _to_message(self, msg: paho.MQTTMessage) -> Message:
        max_payload = self.settings.max_payload
        return to_message(msg, self._marker, max_payload=max_payload, connection=self._connection)

    @contained
    def _on_log(self, client: paho.Client, userdata: Any, level: int, text: str) -> None:
        log.debug("paho: %s", scrub(text, self.settings.password))
