"""Home Assistant MQTT discovery for herald: the config messages, as pure data (no I/O).

`discovery_messages` gives one (config topic, JSON payload) pair per entity; the daemon
publishes each retained (QoS 1) when `mqtt.discovery` is on: after every connect, and
again whenever Home Assistant's birth message (`online` on `<discovery_prefix>/status`,
see `is_birth_message`) arrives, because HA's birth message is not retained.
`removal_messages` gives the same topics (and every topic an older config could have
used) with empty payloads: publishing them retained removes the entities and the device
(`herald discovery remove`, uninstall). The stale ones after a config change are
`removal_messages(...)` minus the topics of `discovery_messages(...)`.

Topics are `<discovery_prefix>/<component>/herald_<D>/<object_id>/config`. Payloads use
HA's full (not abbreviated) keys. Every entity shares one `device` block, one `origin`
block and the availability topic `P/D/availability` (`online` / `offline`).

Entities, and the herald topics they use (`P` = mqtt.topic_prefix, `D` = device.id):

| component | object_id        | topics                                                      |
| --------- | ---------------- | ----------------------------------------------------------- |
| notify    | say              | command P/D/say (JSON `{"text": message}`)                  |
| number    | volume           | command P/D/volume/set (integer 0-100); state P/D/state     |
| button    | stop             | command P/D/stop, payload ""                                |
| button    | replay           | command P/D/replay, payload "" (speak the last utterance)   |
| button    | test             | command P/D/say, payload a test sentence                    |
| sensor    | state            | P/D/state `state` (idle / speaking)                         |
| sensor    | cloud            | P/D/state `cloud` (online / offline)                        |
| sensor    | last_latency     | P/D/state `last_latency_ms` (ms; absent: unknown)           |
| switch    | mute             | command P/D/mute/set ON / OFF; state P/D/state `mute`       |
| event     | button_<name>    | P/D/button, one per configured button (else one `button`)   |
| select    | voice            | command P/D/voice/set; state P/D/state `voice` (>= 2 voices)|

New daemon-side contract this implies: P/D/replay, P/D/mute/set (payload ON / OFF) and
P/D/voice/set (one of the voices) are subscribed; P/D/state also carries `mute` (bool),
`voice` (str) and `last_latency_ms` (int) when known.
"""

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BIRTH_PAYLOAD",
    "MANUFACTURER",
    "MODEL",
    "PRESS_TYPES",
    "birth_topic",
    "button_object_id",
    "discovery_messages",
    "is_birth_message",
    "removal_messages",
]

MANUFACTURER = "herald"
MODEL = "herald voice appliance"
PRESS_TYPES = ("short", "long", "double")  # the `press` values of P/D/button
BIRTH_PAYLOAD = "online"  # what Home Assistant publishes on <discovery_prefix>/status

_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")

Payload = dict[str, Any]


def birth_topic(discovery_prefix: str) -> str:
    """The topic Home Assistant publishes its birth (`online`) and will (`offline`) on."""
    return f"{discovery_prefix}/status"


def is_birth_message(discovery_prefix: str, topic: str, payload: bytes | str) -> bool:
    """True for Home Assistant's birth message: time to publish discovery (and state) again."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return topic == birth_topic(discovery_prefix) and text.strip() == BIRTH_PAYLOAD


def button_object_id(button: str) -> str:
    """The object_id of the event entity of a physical button (`[A-Za-z0-9_-]` only)."""
    return "button_" + (_NOT_ID.sub("_", button) or "_")


def _check_level(what: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{what} = {value!r}: must be letters, digits, '_' or '-'")


def _entities(
    base: str, device_id: str, voices: Sequence[str], buttons: Sequence[str]
) -> list[tuple[str, str, Payload]]:
    """(component, object_id, entity-specific config) for every entity, in publish order."""
    state = f"{base}/state"
    entities: list[tuple[str, str, Payload]] = [
        (
            "notify",
            "say",
            {
                "name": None,  # the entity takes the device's name: notify.herald_<D>
                "command_topic": f"{base}/say",
                # JSON, so that a message starting with "{" is still spoken as text
                "command_template": "{{ {'text': value} | to_json }}",
                "icon": "mdi:account-voice",
            },
        ),
        (
            "number",
            "volume",
            {
                "name": "Volume",
                "command_topic": f"{base}/volume/set",
                "state_topic": state,
                "value_template": "{{ value_json.volume }}",
                "min": 0,
                "max": 100,
                "step": 1,
                "mode": "slider",
                "unit_of_measurement": "%",
                "icon": "mdi:volume-high",
            },
        ),
        (
            "button",
            "stop",
            {
                "name": "Stop",
                "command_topic": f"{base}/stop",
                "payload_press": "",
                "icon": "mdi:stop",
            },
        ),
        (
            "button",
            "replay",
            {
                "name": "Replay",
                "command_topic": f"{base}/replay",
                "payload_press": "",
                "icon": "mdi:replay",
            },
        ),
        (
            "button",
            "test",
            {
                "name": "Test",
                "command_topic": f"{base}/say",
                "payload_press": f"This is herald {device_id}. Testing, one, two, three.",
                "entity_category": "diagnostic",
                "icon": "mdi:speaker-play",
            },
        ),
        (
            "sensor",
            "state",
            {
                "name": "State",
                "state_topic": state,
                "value_template": "{{ value_json.state }}",
                "icon": "mdi:account-voice",
            },
        ),
        (
            "sensor",
            "cloud",
            {
                "name": "Cloud",
                "state_topic": state,
                "value_template": "{{ value_json.cloud }}",
                "entity_category": "diagnostic",
                "icon": "mdi:cloud-outline",
            },
        ),
        (
            "sensor",
            "last_latency",
            {
                "name": "Last latency",
                "state_topic": state,
                # "None" (key absent) makes the sensor unknown instead of logging a warning
                "value_template": "{{ value_json.get('last_latency_ms') }}",
                "unit_of_measurement": "ms",
                "device_class": "duration",
                "state_class": "measurement",
                "suggested_display_precision": 0,
                "entity_category": "diagnostic",
            },
        ),
        (
            "switch",
            "mute",
            {
                "name": "Mute",
                "command_topic": f"{base}/mute/set",
                "state_topic": state,
                "value_template": "{{ 'ON' if value_json.get('mute') else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "icon": "mdi:volume-off",
            },
        ),
    ]
    if buttons:
        for button in buttons:
            # An empty render is ignored by HA's event entity: only this button's presses count.
            template = (
                f"{{% if value_json.button == {json.dumps(button)} %}}"
                '{"event_type": {{ value_json.press | to_json }}}'
                "{% endif %}"
            )
            entities.append(
                (
                    "event",
                    button_object_id(button),
                    {
                        "name": f"Button {button}",
                        "state_topic": f"{base}/button",
                        "event_types": list(PRESS_TYPES),
                        "value_template": template,
                        "device_class": "button",
                    },
                )
            )
    else:
        entities.append(
            (
                "event",
                "button",
                {
                    "name": "Button",
                    "state_topic": f"{base}/button",
                    "event_types": list(PRESS_TYPES),
                    "value_template": (
                        '{"event_type": {{ value_json.press | to_json }},'
                        ' "button": {{ value_json.button | to_json }}}'
                    ),
                    "device_class": "button",
                },
            )
        )
    if len(voices) >= 2:
        entities.append(
            (
                "select",
                "voice",
                {
                    "name": "Voice",
                    "command_topic": f"{base}/voice/set",
                    "state_topic": state,
                    "value_template": "{{ value_json.get('voice') }}",
                    "options": list(voices),
                    "icon": "mdi:account-voice",
                },
            )
        )
    return entities


def _validate(
    prefix: str,
    discovery_prefix: str,
    device_id: str,
    voices: Sequence[str],
    buttons: Sequence[str],
) -> None:
    _check_level("topic_prefix", prefix)
    _check_level("discovery_prefix", discovery_prefix)
    _check_level("device_id", device_id)
    if len(set(voices)) != len(voices) or not all(voices):
        raise ValueError(f"voices = {list(voices)!r}: must be distinct, non-empty names")
    ids = [button_object_id(b) for b in buttons]
    if len(set(ids)) != len(ids) or not all(buttons):
        raise ValueError(
            f"buttons = {list(buttons)!r}: must be non-empty names that stay distinct "
            "once reduced to letters, digits, '_' and '-'"
        )


def _topic(discovery_prefix: str, component: str, device_id: str, object_id: str) -> str:
    return f"{discovery_prefix}/{component}/herald_{device_id}/{object_id}/config"


def discovery_messages(
    prefix: str,
    discovery_prefix: str,
    device_id: str,
    *,
    version: str,
    voices: Sequence[str] = (),
    buttons: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """(config topic, JSON payload) for every entity; publish each retained.

    `prefix` is mqtt.topic_prefix, `device_id` device.id, `version` herald's version,
    `voices` the selectable voice names (a select entity only when there are two or
    more), `buttons` the physical buttons' names (one event entity each; none: one
    event entity for all of them, with the button's name as an event attribute).
    Raises ValueError for an id that is not one MQTT topic level, or duplicate names.
    """
    _validate(prefix, discovery_prefix, device_id, voices, buttons)
    base = f"{prefix}/{device_id}"
    node = f"herald_{device_id}"
    shared: Payload = {
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [node],
            "name": f"herald {device_id}",
            "manufacturer": MANUFACTURER,
            "model": MODEL,
            "sw_version": version,
        },
        "origin": {"name": "herald", "sw_version": version},
    }
    messages = []
    for component, object_id, config in _entities(base, device_id, voices, buttons):
        payload = {**config, "unique_id": f"{node}_{object_id}", **shared}
        messages.append(
            (
                _topic(discovery_prefix, component, device_id, object_id),
                json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            )
        )
    return messages


def removal_messages(
    prefix: str,
    discovery_prefix: str,
    device_id: str,
    *,
    buttons: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """(config topic, "") for every entity herald may have announced; publish each retained.

    Covers the voice select and the catch-all button event even when the current
    config would not announce them, so that removal also clears what an older config left.
    """
    _validate(prefix, discovery_prefix, device_id, (), buttons)
    base = f"{prefix}/{device_id}"
    everything = _entities(base, device_id, ("a", "b"), buttons)
    if buttons:  # the catch-all event, announced when no buttons were configured
        everything += [e for e in _entities(base, device_id, (), ()) if e[1] == "button"]
    return [
        (_topic(discovery_prefix, component, device_id, object_id), "")
        for component, object_id, _ in everything
    ]
