"""`herald doctor`'s GPIO check: real gpiozero, its mock pins, and this machine's (none)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from herald.cli.doctor import check_gpio
from herald.config import Config, build_config


def config(*buttons: dict[str, Any]) -> Config:
    return build_config({"buttons": list(buttons)}, {})


@pytest.fixture
def factory() -> Iterator[Any]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


async def test_no_buttons_is_skipped() -> None:
    check = await check_gpio(config())
    assert (check.status, check.detail) == ("skip", "no buttons configured")


async def test_pins_that_open_are_ok(factory: Any) -> None:
    check = await check_gpio(
        config({"name": "door", "pin": 17}, {"name": "knob", "pin": "GPIO27"}),
        pin_factory=factory,
    )
    assert check.status == "ok"
    assert check.detail == "opened door on 17, knob on GPIO27"


async def test_a_power_pin_is_named_with_a_fix(factory: Any) -> None:
    # BOARD1 is the 3.3 V pin of the header: not a GPIO.
    check = await check_gpio(
        config({"name": "door", "pin": 17}, {"name": "bad", "pin": "BOARD1"}),
        pin_factory=factory,
    )
    assert check.status == "FAIL"
    assert check.detail.startswith("button bad: pin BOARD1: ")
    assert "door" not in check.detail
    assert "BCM numbers of free GPIO pins" in check.fix


async def test_a_machine_without_gpio_says_so(tmp_path: Path) -> None:
    # A fresh process, so gpiozero looks for a real pin factory: this x86 machine has none.
    conf = tmp_path / "c.toml"
    conf.write_text('[[buttons]]\nname = "door"\npin = 17\n')
    code = (
        "import sys, trio; from herald.config import load_config; "
        "from herald.cli.doctor import check_gpio; "
        "c = trio.run(check_gpio, load_config(sys.argv[1])); print(c.status, c.detail, c.fix)"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = await trio.run_process(
        [sys.executable, "-c", code, str(conf)], capture_stdout=True, env=env
    )
    out = result.stdout.decode()
    assert out.startswith("FAIL 1 button(s) configured, but this machine has no GPIO"), out
    assert "run herald on a Raspberry Pi, or remove the [[buttons]] blocks" in out
