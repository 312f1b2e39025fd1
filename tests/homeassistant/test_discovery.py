"""Home Assistant MQTT discovery payloads (herald.discovery).

Which validation is used, and why:

1. Home Assistant's own code, when available. It lives in a separate throwaway venv
   (default /tmp/ha-venv, or $HERALD_HA_PYTHON naming its python), never in the
   project's venv, and its release follows the Python: on 3.11 (Debian 12) the last is
   2024.3.3, on 3.13 (Debian 13) 2026.2.3 (scripts/test.sh picks it and builds the venv):

       python3 -m venv /tmp/ha-venv && /tmp/ha-venv/bin/pip install homeassistant

   `test_home_assistant_accepts_every_payload` runs `_HA_VALIDATOR` there as a
   subprocess: it matches each topic with HA's `discovery.TOPIC_MATCHER` and
   `SUPPORTED_COMPONENTS`, expands abbreviations as HA's discovery does, validates the
   origin with `MQTT_ORIGIN_INFO_SCHEMA` and the payload with the platform module's
   `DISCOVERY_SCHEMA` (`homeassistant.components.mqtt.<platform>`), fails on any key that
   schema would silently drop (they are `extra=REMOVE_EXTRA`), and renders every
   template with HA's template engine against sample herald messages. Those tests are
   skipped only when that venv is absent, and fail instead with HERALD_REQUIRE_HA=1,
   which scripts/test.sh (and so CI) sets after building that venv in .ha-venv.
   Limitation on 3.11: the MQTT `notify` entity platform arrived in HA 2024.5, after the
   last release installable there. For `notify` 2024.3.3's validator builds the schema of HA's
   2024.5 `mqtt/notify.py` (MQTT_BASE_SCHEMA + command_topic/command_template/name/retain
   + MQTT_ENTITY_COMMON_SCHEMA) from 2024.3's own building blocks, and the docs check
   below covers it too.

2. Always (no Home Assistant needed): every payload against the required keys and value
   types of each platform's page in HA's MQTT docs (`_REQUIRED`, citing the pages), plus
   JSON validity, unique_id uniqueness and prefix, topics under the discovery prefix,
   availability on every entity, the shared device block, and removal by retained empty
   configs (also end to end through a real mosquitto, when installed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from herald.homeassistant.discovery import (
    birth_topic,
    button_object_id,
    discovery_messages,
    is_birth_message,
    removal_messages,
)

P, DP, D = "herald", "homeassistant", "kitchen"
VOICES = ("Katie", "Barbershop man", "Sarah")
BUTTONS = ("top", "side button")


def messages(**kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    args = {"version": "1.2.3", "voices": VOICES, "buttons": BUTTONS, **kwargs}
    return [(t, json.loads(p)) for t, p in discovery_messages(P, DP, D, **args)]


def by_object_id(msgs: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {topic.split("/")[3]: payload for topic, payload in msgs}


# --- 2. required keys and value types from Home Assistant's MQTT docs ---
#
# From each platform's "Configuration variables" on home-assistant.io: the keys marked
# "Required", plus the types of the optional keys herald uses.
#   notify: https://www.home-assistant.io/integrations/notify.mqtt/   (command_topic)
#   number: https://www.home-assistant.io/integrations/number.mqtt/   (command_topic)
#   button: https://www.home-assistant.io/integrations/button.mqtt/   (none; command_topic
#           is what makes it do anything)
#   sensor: https://www.home-assistant.io/integrations/sensor.mqtt/   (state_topic)
#   switch: https://www.home-assistant.io/integrations/switch.mqtt/   (command_topic)
#   event:  https://www.home-assistant.io/integrations/event.mqtt/    (state_topic, event_types)
#   select: https://www.home-assistant.io/integrations/select.mqtt/   (command_topic, options)
# Discovery: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery (topic format,
# node_id/object_id characters, device block "identifiers or connections", origin "name").
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "notify": {"command_topic": str},
    "number": {"command_topic": str},
    "button": {"command_topic": str},
    "sensor": {"state_topic": str},
    "switch": {"command_topic": str},
    "event": {"state_topic": str, "event_types": list},
    "select": {"command_topic": str, "options": list},
}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": (str, type(None)),
    "unique_id": str,
    "availability_topic": str,
    "payload_available": str,
    "payload_not_available": str,
    "command_topic": str,
    "command_template": str,
    "state_topic": str,
    "value_template": str,
    "payload_press": str,
    "payload_on": str,
    "payload_off": str,
    "min": (int, float),
    "max": (int, float),
    "step": (int, float),
    "mode": str,
    "unit_of_measurement": str,
    "device_class": str,
    "state_class": str,
    "suggested_display_precision": int,
    "entity_category": str,
    "icon": str,
    "options": list,
    "event_types": list,
    "device": dict,
    "origin": dict,
}
# HA's discovery.TOPIC_MATCHER, anchored, under the discovery prefix.
_TOPIC = re.compile(
    rf"{DP}/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)


def test_required_keys_and_types_from_ha_docs() -> None:
    seen = set()
    for topic, payload in messages():
        match = _TOPIC.fullmatch(topic)
        assert match, topic
        component = match["component"]
        seen.add(component)
        for key, typ in _REQUIRED[component].items():
            assert isinstance(payload.get(key), typ), (topic, key)
        for key, value in payload.items():
            assert key in _TYPES, f"{topic}: key {key!r} not checked"
            assert isinstance(value, _TYPES[key]), (topic, key, value)
        for key in ("command_topic", "state_topic", "availability_topic"):
            if key in payload:  # publish/subscribe topics: no wildcards, no empty levels
                assert not set(payload[key]) & {"+", "#"}, (topic, key)
                assert "" not in payload[key].split("/"), (topic, key)
        assert all(isinstance(o, str) for o in payload.get("options", [])), topic
        assert all(isinstance(o, str) for o in payload.get("event_types", [])), topic
        device = payload["device"]
        assert device["identifiers"] and all(isinstance(i, str) for i in device["identifiers"])
        assert isinstance(payload["origin"]["name"], str)
    assert seen == set(_REQUIRED)


def test_every_payload_is_a_compact_json_object() -> None:
    for topic, raw in discovery_messages(P, DP, D, version="1", voices=VOICES, buttons=BUTTONS):
        payload = json.loads(raw)
        assert isinstance(payload, dict), topic
        assert len(raw.encode()) < 1024, topic  # small: one TCP segment, cheap to retain


def test_topics_are_under_the_discovery_prefix_one_per_entity() -> None:
    topics = [t for t, _ in messages()]
    assert len(topics) == len(set(topics))
    for topic in topics:
        match = _TOPIC.fullmatch(topic)
        assert match, topic
        assert match["node_id"] == f"herald_{D}"
    custom = discovery_messages("hp", "ha-disc", "den", version="1")
    assert all(
        t.startswith("ha-disc/") and t.endswith("/herald_den/" + t.split("/")[3] + "/config")
        for t, _ in custom
    )
    assert all(json.loads(p)["availability_topic"] == "hp/den/availability" for _, p in custom)


def test_unique_ids_are_unique_and_prefixed() -> None:
    ids = [p["unique_id"] for _, p in messages()]
    assert len(ids) == len(set(ids))
    assert all(i.startswith(f"herald_{D}_") for i in ids)
    # another device on the same broker never collides
    other = [json.loads(p)["unique_id"] for _, p in discovery_messages(P, DP, "den", version="1")]
    assert not set(ids) & set(other)


def test_every_entity_has_availability_device_and_origin() -> None:
    device = {
        "identifiers": [f"herald_{D}"],
        "name": f"herald {D}",
        "manufacturer": "herald",
        "model": "herald voice appliance",
        "sw_version": "1.2.3",
    }
    for topic, payload in messages():
        assert payload["availability_topic"] == f"{P}/{D}/availability", topic
        assert payload["payload_available"] == "online"
        assert payload["payload_not_available"] == "offline"
        assert payload["device"] == device, topic
        assert payload["origin"] == {"name": "herald", "sw_version": "1.2.3"}


def test_entities_use_herald_topics() -> None:
    e = by_object_id(messages())
    assert e["say"]["command_topic"] == f"{P}/{D}/say"
    assert e["volume"]["command_topic"] == f"{P}/{D}/volume/set"
    assert (e["volume"]["min"], e["volume"]["max"], e["volume"]["step"]) == (0, 100, 1)
    assert e["stop"]["command_topic"] == f"{P}/{D}/stop"
    assert e["stop"]["payload_press"] == ""
    assert e["replay"]["command_topic"] == f"{P}/{D}/replay"
    assert e["test"]["command_topic"] == f"{P}/{D}/say"
    assert e["test"]["payload_press"] and not e["test"]["payload_press"].startswith("{")
    assert e["mute"]["command_topic"] == f"{P}/{D}/mute/set"
    assert (e["mute"]["payload_on"], e["mute"]["payload_off"]) == ("ON", "OFF")
    assert e["voice"]["command_topic"] == f"{P}/{D}/voice/set"
    assert e["voice"]["options"] == list(VOICES)
    assert e["last_latency"]["unit_of_measurement"] == "ms"
    assert e["last_latency"]["device_class"] == "duration"
    assert e["last_latency"]["state_class"] == "measurement"
    for key in ("volume", "state", "cloud", "last_latency", "mute", "voice"):
        assert e[key]["state_topic"] == f"{P}/{D}/state", key
    for key in ("button_top", "button_side_button"):
        assert e[key]["state_topic"] == f"{P}/{D}/button"
        assert e[key]["event_types"] == ["short", "long", "double"]


def test_voice_select_only_with_two_or_more_voices() -> None:
    assert "voice" not in by_object_id(messages(voices=()))
    assert "voice" not in by_object_id(messages(voices=("Katie",)))
    assert "voice" in by_object_id(messages(voices=("Katie", "Sarah")))


def test_one_event_per_button_or_one_for_all() -> None:
    per_button = by_object_id(messages())
    assert {k for k in per_button if k.startswith("button")} == {"button_top", "button_side_button"}
    catch_all = by_object_id(messages(buttons=()))
    assert {k for k in catch_all if k.startswith("button")} == {"button"}
    assert button_object_id("a b/c") == "button_a_b_c"


def test_bad_ids_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="device_id"):
        discovery_messages(P, DP, "kit chen", version="1")
    with pytest.raises(ValueError, match="discovery_prefix"):
        discovery_messages(P, "home/assistant", D, version="1")
    with pytest.raises(ValueError, match="buttons"):
        discovery_messages(P, DP, D, version="1", buttons=("a b", "a_b"))
    with pytest.raises(ValueError, match="voices"):
        discovery_messages(P, DP, D, version="1", voices=("a", "a"))


def test_removal_is_empty_configs_on_every_topic_herald_may_have_used() -> None:
    for buttons in ((), BUTTONS):
        removal = removal_messages(P, DP, D, buttons=buttons)
        assert all(payload == "" for _, payload in removal)
        topics = {t for t, _ in removal}
        assert len(topics) == len(removal)
        # whatever the voices (the select comes and goes) and with or without buttons
        # (the catch-all event): all that the current buttons could have announced
        for voices in ((), ("a",), VOICES):
            for announced_buttons in {(), buttons}:
                announced = discovery_messages(
                    P, DP, D, version="1", voices=voices, buttons=announced_buttons
                )
                assert {t for t, _ in announced} <= topics, (voices, announced_buttons)


def test_birth_message() -> None:
    assert birth_topic("homeassistant") == "homeassistant/status"
    assert is_birth_message(DP, "homeassistant/status", b"online")
    assert is_birth_message(DP, "homeassistant/status", "online")
    assert not is_birth_message(DP, "homeassistant/status", b"offline")
    assert not is_birth_message("ha", "homeassistant/status", b"online")


def test_retained_empty_configs_remove_them_from_the_broker(mosquitto: Any) -> None:
    """End to end through mosquitto: retained configs are there; after the removal, gone."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    def client() -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.connect("127.0.0.1", mosquitto.port)
        c.loop_start()
        return c

    def retained_configs() -> dict[str, bytes]:
        got: dict[str, bytes] = {}
        c = client()
        c.on_message = lambda _c, _u, msg: got.__setitem__(msg.topic, bytes(msg.payload))
        c.subscribe(f"{DP}/#", qos=1)
        time.sleep(0.5)
        c.loop_stop()
        c.disconnect()
        return got

    announced = discovery_messages(P, DP, D, version="1", voices=VOICES, buttons=BUTTONS)
    pub = client()
    for topic, payload in announced:
        pub.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    assert retained_configs() == {t: p.encode() for t, p in announced}
    for topic, payload in removal_messages(P, DP, D, buttons=BUTTONS):
        pub.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()
    assert retained_configs() == {}


# --- 1. Home Assistant's own schemas, in a separate venv ---

_HA_PYTHON = Path(os.environ.get("HERALD_HA_PYTHON", "/tmp/ha-venv/bin/python"))

# Run by Home Assistant's python. stdin: {"messages": [[topic, payload]], "renders":
# [[topic, key, mqtt payload or null, variables]]}; stdout: JSON results.
_HA_VALIDATOR = r'''
import asyncio, importlib, json, sys, tempfile
import voluptuous as vol
from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.template import Template
from homeassistant.components.mqtt import discovery
from homeassistant.components.mqtt.abbreviations import (
    ABBREVIATIONS, DEVICE_ABBREVIATIONS, ORIGIN_ABBREVIATIONS)

# Where each piece lives moved between releases (2024.3 on Python 3.11, 2026.2 on 3.13).
try:
    from homeassistant.components.mqtt.const import SUPPORTED_COMPONENTS
except ImportError:
    SUPPORTED_COMPONENTS = discovery.SUPPORTED_COMPONENTS
try:
    from homeassistant.components.mqtt.schemas import MQTT_ORIGIN_INFO_SCHEMA
except ImportError:
    MQTT_ORIGIN_INFO_SCHEMA = discovery.MQTT_ORIGIN_INFO_SCHEMA


def notify_schema():
    """HA 2024.5's mqtt/notify.py DISCOVERY_SCHEMA, from this release's parts."""
    from homeassistant.components.mqtt.config import MQTT_BASE_SCHEMA
    from homeassistant.components.mqtt.mixins import MQTT_ENTITY_COMMON_SCHEMA
    from homeassistant.components.mqtt.util import valid_publish_topic
    return MQTT_BASE_SCHEMA.extend({
        vol.Optional("command_template"): cv.template,
        vol.Required("command_topic"): valid_publish_topic,
        vol.Optional("name"): vol.Any(cv.string, None),
        vol.Optional("retain", default=False): cv.boolean,
    }).extend(MQTT_ENTITY_COMMON_SCHEMA.schema).extend({}, extra=vol.REMOVE_EXTRA)


def expand(payload):
    """What discovery.async_discovery_message_received does to the keys."""
    for key in list(payload):
        if key in ABBREVIATIONS:
            payload[ABBREVIATIONS[key]] = payload.pop(key)
    for block, abbr in (("device", DEVICE_ABBREVIATIONS), ("origin", ORIGIN_ABBREVIATIONS)):
        for key in list(payload.get(block, {})):
            if key in abbr:
                payload[block][abbr[key]] = payload[block].pop(key)
    return payload


async def main():
    request = json.load(sys.stdin)
    hass = HomeAssistant(tempfile.mkdtemp())
    results, configs = [], {}
    for topic, raw in request["messages"]:
        r = {"topic": topic, "errors": []}
        results.append(r)
        prefix, _, rest = topic.partition("/")
        match = discovery.TOPIC_MATCHER.fullmatch(rest)
        if not match:
            r["errors"].append("topic does not match TOPIC_MATCHER")
            continue
        component = match["component"]
        r["supported"] = component in SUPPORTED_COMPONENTS
        try:
            payload = expand(json.loads(raw))
            MQTT_ORIGIN_INFO_SCHEMA(payload["origin"])
            if r["supported"]:
                schema = importlib.import_module(
                    f"homeassistant.components.mqtt.{component}").DISCOVERY_SCHEMA
            elif component == "notify":
                schema = notify_schema()
            else:
                raise ValueError(f"unknown component {component}")
            config = schema(dict(payload, platform="mqtt"))
        except Exception as exc:
            r["errors"].append(f"{type(exc).__name__}: {exc}")
            continue
        dropped = set(payload) - set(config)
        if dropped:
            r["errors"].append(f"keys HA drops: {sorted(dropped)}")
        configs[topic] = config
    renders = []
    for topic, key, mqtt_payload, variables in request["renders"]:
        template = configs[topic][key]
        template.hass = hass
        if mqtt_payload is None:
            renders.append(template.async_render(variables, parse_result=False))
        else:
            renders.append(template.async_render_with_possible_json_value(
                mqtt_payload, None, variables))
    await hass.async_stop(force=True)
    print(json.dumps({"version": __version__, "results": results, "renders": renders}))

asyncio.run(main())
'''

STATE = json.dumps({"state": "speaking", "cloud": "offline", "volume": 42, "queue": 1})
STATE_FULL = json.dumps(
    {
        "state": "idle",
        "cloud": "online",
        "volume": 7,
        "queue": 0,
        "mute": True,
        "voice": "Sarah",
        "last_latency_ms": 312,
    }
)
# (object_id, template key, MQTT payload or None for a command template, variables, expected)
RENDERS: list[tuple[str, str, str | None, dict[str, Any], str]] = [
    ("volume", "value_template", STATE, {}, "42"),
    ("state", "value_template", STATE, {}, "speaking"),
    ("cloud", "value_template", STATE, {}, "offline"),
    ("last_latency", "value_template", STATE, {}, "None"),  # HA: unknown
    ("last_latency", "value_template", STATE_FULL, {}, "312"),
    ("mute", "value_template", STATE, {}, "OFF"),
    ("mute", "value_template", STATE_FULL, {}, "ON"),
    ("voice", "value_template", STATE, {}, "None"),  # HA: no option
    ("voice", "value_template", STATE_FULL, {}, "Sarah"),
    (
        "button_top",
        "value_template",
        '{"button":"top","press":"long"}',
        {},
        '{"event_type": "long"}',
    ),
    ("button_top", "value_template", '{"button":"side button","press":"long"}', {}, ""),
    (
        "button_side_button",
        "value_template",
        '{"button":"side button","press":"double"}',
        {},
        '{"event_type": "double"}',
    ),
    (
        "say",
        "command_template",
        None,
        {"value": 'He said "{hi}" ünïcode'},
        json.dumps({"text": 'He said "{hi}" ünïcode'}, separators=(",", ":"), ensure_ascii=False),
    ),
]


@pytest.fixture(scope="module")
def ha_report() -> dict[str, Any]:
    if not _HA_PYTHON.exists():
        missing = f"no Home Assistant venv at {_HA_PYTHON} (see this module's docstring)"
        if os.environ.get("HERALD_REQUIRE_HA") == "1":  # scripts/test.sh (CI) builds it
            pytest.fail(missing)
        pytest.skip(missing)
    msgs = discovery_messages(P, DP, D, version="1.2.3", voices=VOICES, buttons=BUTTONS)
    msgs += [
        m
        for m in discovery_messages(P, DP, D, version="1.2.3")
        if m[0].endswith("/button/config")  # the catch-all event entity too
    ]
    topic_of = {t.split("/")[3]: t for t, _ in msgs}
    catch_all = topic_of["button"]
    renders = [[topic_of[o], k, p, v] for o, k, p, v, _ in RENDERS] + [
        [catch_all, "value_template", '{"button":"top","press":"short"}', {}]
    ]
    proc = subprocess.run(
        [str(_HA_PYTHON), "-c", _HA_VALIDATOR],
        input=json.dumps({"messages": msgs, "renders": renders}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    report["count"] = len(msgs)
    return report


def test_home_assistant_accepts_every_payload(ha_report: dict[str, Any]) -> None:
    results = ha_report["results"]
    assert len(results) == ha_report["count"]
    errors = {r["topic"]: r["errors"] for r in results if r["errors"]}
    assert not errors, f"Home Assistant {ha_report['version']} rejects: {errors}"
    unsupported = {r["topic"].split("/")[1] for r in results if not r["supported"]}
    # notify is in SUPPORTED_COMPONENTS from HA 2024.5 on; every other platform must be.
    assert unsupported <= {"notify"}, unsupported
    print(f"validated with Home Assistant {ha_report['version']}", file=sys.stderr)


def test_home_assistant_renders_the_templates(ha_report: dict[str, Any]) -> None:
    renders = ha_report["renders"]
    for (object_id, key, payload, _, expected), got in zip(RENDERS, renders, strict=False):
        assert got == expected, (object_id, key, payload)
    assert json.loads(renders[-1]) == {"event_type": "short", "button": "top"}
