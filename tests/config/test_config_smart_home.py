"""The config keys of the smart-home features: [[buttons]], [quiet_hours], [stream],
device.groups, device.state_file and [cartesia] voices; every error names its key."""

import datetime as dt

import pytest

from herald.buttons import ButtonConfig, Speak
from herald.config import ConfigError, parse_config


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    return info.value.errors


def test_defaults() -> None:
    cfg = parse_config("", {})
    assert cfg.buttons == ()
    assert cfg.device.groups == ()
    assert cfg.device.state_file == "/var/lib/herald/state.json"
    assert cfg.quiet_hours.windows == () and cfg.quiet_hours.mode == "lower"
    assert cfg.quiet_hours.volume == 30
    assert cfg.stream.idle_timeout == 10.0
    assert cfg.cartesia.voices == ()
    assert not cfg.quiet_hours.policy().active(dt.time(3, 0))


def test_buttons_are_read_with_their_actions() -> None:
    cfg = parse_config(
        """
[[buttons]]
name = "door"
pin = 17
short = {say = "Dinner is ready"}
long = "stop"
double = {clip = "doorbell", say = "Someone is at the door"}

[[buttons]]
name = "knob"
pin = "GPIO27"
pull_up = false
hold_s = 2.0
short = "volume_up"
""",
        {},
    )
    door, knob = cfg.buttons
    assert door == ButtonConfig(
        name="door",
        pin=17,
        short=Speak(say="Dinner is ready"),
        long="stop",
        double=Speak(clip="doorbell", say="Someone is at the door"),
    )
    assert (knob.pin, knob.pull_up, knob.hold_s, knob.short) == ("GPIO27", False, 2.0, "volume_up")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("buttons = 3", "buttons = 3: must be an array of tables"),
        ("[[buttons]]\npin = 17", "buttons[0].name: required"),
        ('[[buttons]]\nname = "a"', "buttons[0].pin: required"),
        ('[[buttons]]\nname = "a"\npin = 99', "buttons[0].pin = 99: must be a BCM GPIO number"),
        ('[[buttons]]\nname = "a"\npin = 1\ncolour = 1', "buttons[0].colour: unknown key"),
        (
            '[[buttons]]\nname = "a"\npin = 1\nshort = "dance"',
            'buttons[0].short = "dance": must be one of "stop", "replay"',
        ),
        (
            '[[buttons]]\nname = "a"\npin = 1\nlong = {}',
            "buttons[0].long = {}: must be one of",
        ),
        (
            '[[buttons]]\nname = "a"\npin = 1\nlong = {sing = "x"}',
            "buttons[0].long.sing: unknown key (allowed: say, clip)",
        ),
        (
            '[[buttons]]\nname = "a"\npin = 1\n[[buttons]]\nname = "a"\npin = 2',
            'buttons: name "a" is used by 2 buttons',
        ),
        (
            '[[buttons]]\nname = "a"\npin = 1\n[[buttons]]\nname = "b"\npin = 1',
            "buttons: pin 1 is used by 2 buttons",
        ),
        (
            '[quiet_hours]\nwindows = ["22:00"]',
            'quiet_hours.windows[0]: quiet hours window "22:00"',
        ),
        ('[quiet_hours]\nmode = "mute"', 'quiet_hours.mode = "mute": must be one of'),
        ("[quiet_hours]\nvolume = 101", "quiet_hours.volume = 101: must be an integer from 0"),
        ("[stream]\nidle_timeout = 0", "stream.idle_timeout = 0: must be a number of seconds"),
        ('[device]\ngroups = ["up stairs"]', 'device.groups = ["up stairs"]: must be an array'),
        ('[device]\ngroups = ["a", "a"]', 'device.groups: "a" is listed twice'),
        (
            '[cartesia]\nvoices = [{name = "a b", id = "x"}]',
            'cartesia.voices = [{ name = "a b", id = "x" }]: must be an array of a table',
        ),
        ('[cartesia]\nvoices = {a = "x"}', "with the keys name, id (name, id required)"),
        (
            '[cartesia]\nvoices = [{name = "a", id = "x"}, {name = "a", id = "y"}]',
            'cartesia.voices: the name "a" is used twice',
        ),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    found = errors(text)
    assert any(message in e for e in found), found


def test_all_button_errors_are_reported_at_once() -> None:
    found = errors(
        '[[buttons]]\nname = "A"\npin = 99\nshort = "dance"\n[[buttons]]\nname = "ok"\npin = 3\n'
    )
    assert len(found) == 3, found
    assert [e.split(" ")[0] for e in found] == [
        "buttons[0].name",
        "buttons[0].pin",
        "buttons[0].short",
    ]


def test_quiet_hours_policy_from_the_config() -> None:
    cfg = parse_config('[quiet_hours]\nwindows = ["22:00-07:00"]\nmode = "drop"\n', {})
    quiet = cfg.quiet_hours.policy()
    assert quiet.active(dt.time(23, 0)) and quiet.active(dt.time(6, 59))
    assert not quiet.active(dt.time(7, 0))
    assert not quiet.decide("normal", dt.time(23, 0), 80).play
    assert quiet.decide("high", dt.time(23, 0), 80).play


def test_voice_names_resolve_to_ids() -> None:
    cfg = parse_config(
        '[cartesia]\nvoice = "bob"\n'
        'voices = [{name = "alice", id = "id-a"}, {name = "bob", id = "id-b"}]\n',
        {},
    )
    assert cfg.cartesia.voice_id(cfg.cartesia.voice) == "id-b"
    assert cfg.cartesia.voice_id("id-z") == "id-z"
    assert cfg.cartesia.voice_name("id-a") == "alice"
    assert cfg.cartesia.voice_name("id-z") is None
