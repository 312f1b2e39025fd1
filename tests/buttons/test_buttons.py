"""Buttons: the press classifier on plain numbers, and the service on gpiozero's mock pins."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec
import pytest
import trio
import trio.testing
from gpiozero import Device  # type: ignore[import-untyped]
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from herald.buttons import (
    Action,
    ButtonConfig,
    Buttons,
    Press,
    PressClassifier,
    Speak,
    describe,
    open_buttons,
)
from herald.buttons.gpio import NO_GPIO_MESSAGE

# --- the classifier, on plain numbers ---


def classifier(bounce_s: float = 0.0) -> PressClassifier:
    return PressClassifier(hold_s=1.0, double_s=0.4, bounce_s=bounce_s)


def test_short_fires_when_the_double_window_closes() -> None:
    c = classifier()
    assert c.next_deadline() is None
    assert c.pressed(10.0) is None
    assert c.next_deadline() == 11.0
    assert c.released(10.2) is None
    assert c.next_deadline() == pytest.approx(10.6)
    assert c.poll(10.5) is None
    assert c.poll(10.6) == "short"
    assert c.poll(20.0) is None
    assert c.next_deadline() is None


def test_long_fires_at_hold_time_and_its_release_is_ignored() -> None:
    c = classifier()
    c.pressed(0.0)
    assert c.poll(0.99) is None
    assert c.poll(1.0) == "long"
    assert c.next_deadline() is None
    assert c.poll(5.0) is None
    assert c.released(5.0) is None
    assert c.next_deadline() is None
    assert c.poll(10.0) is None


def test_long_is_reported_by_a_late_release() -> None:
    c = classifier()
    c.pressed(0.0)
    assert c.released(1.5) == "long"
    assert c.poll(3.0) is None


def test_double_fires_at_the_second_press_and_nothing_else() -> None:
    c = classifier()
    c.pressed(0.0)
    c.released(0.1)
    assert c.pressed(0.45) == "double"
    assert c.next_deadline() is None
    assert c.poll(5.0) is None  # held long: still just the double
    assert c.released(5.1) is None
    assert c.poll(10.0) is None


def test_two_presses_further_apart_than_double_s_are_two_shorts() -> None:
    c = classifier()
    c.pressed(0.0)
    c.released(0.1)
    assert c.poll(0.5) == "short"
    assert c.pressed(0.6) is None
    c.released(0.7)
    assert c.poll(1.1) == "short"


def test_a_late_poll_still_gives_the_short_before_the_next_press() -> None:
    c = classifier()
    c.pressed(0.0)
    c.released(0.1)
    assert c.pressed(0.6) == "short"  # the window closed at 0.5; nobody polled
    c.released(0.7)
    assert c.poll(1.1) == "short"


def test_edges_closer_than_bounce_are_ignored() -> None:
    c = classifier(bounce_s=0.03)
    c.pressed(0.0)
    assert c.released(0.01) is None  # bounce
    assert c.pressed(0.02) is None  # bounce (and already pressed)
    assert c.next_deadline() == 1.0  # still the first press, held
    c.released(0.2)
    assert c.pressed(0.21) is None  # bounce of the release, not a double
    assert c.next_deadline() == pytest.approx(0.6)  # released, in the double window
    assert c.poll(0.61) == "short"


def test_repeated_edges_are_ignored() -> None:
    c = classifier()
    assert c.released(0.0) is None
    c.pressed(1.0)
    assert c.pressed(1.1) is None
    assert c.next_deadline() == 2.0


# --- config ---


def test_config_defaults_and_actions() -> None:
    config = msgspec.convert(
        {
            "name": "kitchen",
            "pin": 17,
            "short": {"say": "Dinner is ready"},
            "long": "stop",
            "double": {"clip": "doorbell", "say": "Door"},
        },
        ButtonConfig,
    )
    assert (config.pull_up, config.bounce_ms, config.hold_s, config.double_s) == (
        True,
        30,
        1.0,
        0.4,
    )
    assert config.short == Speak(say="Dinner is ready")
    assert config.long == "stop"
    assert config.action("double") == Speak(say="Door", clip="doorbell")
    assert msgspec.convert({"name": "b", "pin": "BOARD11"}, ButtonConfig).pin == "BOARD11"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "Kitchen", "pin": 17}, "name"),
        ({"name": "k", "pin": 54}, "pin"),
        ({"name": "k", "pin": "PIN17"}, "pin"),
        ({"name": "k", "pin": 17, "hold_s": 0.1}, "hold_s"),
        ({"name": "k", "pin": 17, "short": "explode"}, "short"),
        ({"name": "k", "pin": 17, "short": {}}, "needs `say`"),
        ({"name": "k", "pin": 17, "short": {"say": "x", "speak": "y"}}, "speak"),
        ({"name": "k", "pin": 17, "colour": "red"}, "colour"),
    ],
)
def test_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(table, ButtonConfig)


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (None, "no action"),
        ("volume_up", "volume up"),
        (Speak(say="Hello"), 'say "Hello"'),
        (Speak(clip="doorbell", say="Hi"), 'clip doorbell then say "Hi"'),
    ],
)
def test_describe(action: Action | None, text: str) -> None:
    assert describe(action) == text


# --- the service on gpiozero's mock pins, with trio's autojump clock ---

Seen = list[tuple[str, Press, Action | None, float]]


@pytest.fixture
def factory() -> Iterator[Any]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


async def start(nursery: trio.Nursery, factory: Any, **fields: Any) -> tuple[Buttons, Any, Seen]:
    config = msgspec.convert({"name": "door", "pin": 17, **fields}, ButtonConfig)
    seen: Seen = []

    def on_press(name: str, press: Press, action: Action | None) -> None:
        seen.append((name, press, action, trio.current_time()))

    buttons = Buttons([config], on_press, pin_factory=factory)
    await nursery.start(buttons.run)
    return buttons, factory.pin(17), seen


async def in_a_thread(drive: Callable[[], None]) -> None:
    """Drive a pin from another thread, as a real gpiozero backend calls back.

    Not `trio.to_thread.run_sync`: while trio waits for a worker thread all its tasks are
    blocked, so the autojump clock may jump to the next deadline (a hold!) mid-drive. Here
    the test task keeps checkpointing until the thread is done, so no time passes.
    """
    thread = threading.Thread(target=drive)
    thread.start()
    while thread.is_alive():
        await trio.sleep(0)
    thread.join()


def at(t: float) -> Any:
    """Exactly time `t` on the MockClock, give or take float rounding."""
    return pytest.approx(t, rel=0, abs=1e-9)


# pytest-trio uses the clock only when the test itself asks for it (not via a fixture).
@pytest.fixture
async def door(nursery: trio.Nursery, factory: Any) -> AsyncIterator[tuple[Any, Seen]]:
    _, pin, seen = await start(nursery, factory, short="replay", long="stop", double="mute")
    yield pin, seen


async def test_short_press(door: tuple[Any, Seen], autojump_clock: trio.testing.MockClock) -> None:
    pin, seen = door
    t0 = trio.current_time()
    pin.drive_low()  # pull-up: pressed is low; callback in this (the trio) thread
    await trio.sleep(0.2)
    await in_a_thread(pin.drive_high)  # as a real backend's thread would
    await trio.sleep(0.39)
    assert seen == []
    await trio.sleep(0.02)
    assert seen == [("door", "short", "replay", at(t0 + 0.6))]


async def test_long_press_fires_at_hold_time(
    door: tuple[Any, Seen], autojump_clock: trio.testing.MockClock
) -> None:
    pin, seen = door
    t0 = trio.current_time()
    pin.drive_low()
    await trio.sleep(3)
    assert seen == [("door", "long", "stop", at(t0 + 1.0))]
    pin.drive_high()
    await trio.sleep(3)
    assert len(seen) == 1


async def test_double_press(door: tuple[Any, Seen], autojump_clock: trio.testing.MockClock) -> None:
    pin, seen = door
    t0 = trio.current_time()
    pin.drive_low()
    await trio.sleep(0.1)
    pin.drive_high()
    await trio.sleep(0.3)
    await in_a_thread(pin.drive_low)
    await trio.sleep(0.1)
    pin.drive_high()
    await trio.sleep(3)
    assert seen == [("door", "double", "mute", at(t0 + 0.4))]


async def test_presses_further_apart_are_two_shorts(
    door: tuple[Any, Seen], autojump_clock: trio.testing.MockClock
) -> None:
    pin, seen = door
    t0 = trio.current_time()
    for _ in range(2):
        pin.drive_low()
        await trio.sleep(0.1)
        pin.drive_high()
        await trio.sleep(0.5)
    assert [(press, t) for _, press, _, t in seen] == [
        ("short", at(t0 + 0.5)),
        ("short", at(t0 + 1.1)),
    ]


async def test_bounces_are_ignored(
    door: tuple[Any, Seen], autojump_clock: trio.testing.MockClock
) -> None:
    pin, seen = door
    t0 = trio.current_time()
    pin.drive_low()
    await trio.sleep(0.01)
    pin.drive_high()  # bounce
    await trio.sleep(0.01)
    pin.drive_low()  # bounce
    await trio.sleep(0.2)
    pin.drive_high()
    await trio.sleep(0.01)
    pin.drive_low()  # bounce of the release: not a second press
    await trio.sleep(0.01)
    pin.drive_high()
    await trio.sleep(3)
    assert seen == [("door", "short", "replay", at(t0 + 0.62))]


async def test_pull_down_and_board_pin_name(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, factory: Any
) -> None:
    config = ButtonConfig(name="desk", pin="BOARD11", pull_up=False, bounce_ms=0)
    seen: list[tuple[str, Press]] = []
    buttons = Buttons(
        [config], lambda name, press, action: seen.append((name, press)), pin_factory=factory
    )
    await nursery.start(buttons.run)
    assert buttons.active
    pin = factory.pin(17)  # BOARD11 is GPIO17
    pin.drive_high()  # pull-down: pressed is high
    await trio.sleep(2)
    pin.drive_low()
    await trio.sleep(1)
    assert seen == [("desk", "long")]


async def test_an_action_handler_that_raises_does_not_stop_the_service(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Press] = []

    def on_press(name: str, press: Press, action: Action | None) -> None:
        calls.append(press)
        raise RuntimeError("boom")

    buttons = Buttons([ButtonConfig(name="b", pin=17)], on_press, pin_factory=factory)
    await nursery.start(buttons.run)
    pin = factory.pin(17)
    for hold in (2.0, 0.1):
        pin.drive_low()
        await trio.sleep(hold)
        pin.drive_high()
        await trio.sleep(1)
    assert calls == ["long", "short"]
    assert "handling the long press failed" in caplog.text


async def test_cancelling_the_service_releases_the_pins(
    autojump_clock: trio.testing.MockClock, factory: Any
) -> None:
    buttons = Buttons([ButtonConfig(name="b", pin=17)], lambda *_: None, pin_factory=factory)
    async with trio.open_nursery() as nursery:
        await nursery.start(buttons.run)
        pin = factory.pin(17)
        assert pin.when_changed is not None
        nursery.cancel_scope.cancel()
    assert not buttons.active
    assert pin.when_changed is None


async def test_open_buttons_skips_a_pin_in_use(
    factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configs = [ButtonConfig(name="a", pin=17), ButtonConfig(name="b", pin="GPIO17")]
    opened = open_buttons(configs, lambda *_: None, pin_factory=factory)
    assert opened is not None
    try:
        assert list(opened.devices) == ["a"]
        assert "button b: cannot open pin GPIO17" in caplog.text
    finally:
        opened.close()


def test_duplicate_button_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique: a"):
        Buttons([ButtonConfig(name="a", pin=1), ButtonConfig(name="a", pin=2)], lambda *_: None)


# --- no GPIO ---


@pytest.fixture
def no_gpio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-backend")
    monkeypatch.setattr(Device, "pin_factory", None)


async def test_open_buttons_without_gpio_returns_none_with_one_log_line(
    no_gpio: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    configs = [ButtonConfig(name="a", pin=17), ButtonConfig(name="b", pin=27)]
    assert open_buttons(configs, lambda *_: None) is None
    assert [r.getMessage() for r in caplog.records] == [NO_GPIO_MESSAGE]


async def test_the_service_without_gpio_is_off_not_crashed(
    no_gpio: None, caplog: pytest.LogCaptureFixture
) -> None:
    buttons = Buttons([ButtonConfig(name="a", pin=17)], lambda *_: None)
    async with trio.open_nursery() as nursery:
        await nursery.start(buttons.run)
    assert not buttons.active
    assert caplog.text.count(NO_GPIO_MESSAGE) == 1
