"""The GPIO adapter: the only module that imports gpiozero (lazily).

gpiozero calls `when_pressed` / `when_released` from its own threads (and, with mock pins,
from whichever thread drives the pin, the trio thread included). Each callback hands the
edge to trio with `TrioToken.run_sync_soon`, which works from any thread; the callback it
schedules cannot raise (an exception there would crash trio), and it stamps the edge with
`trio.current_time()` in the trio thread, so tests' MockClock governs the times.
"""

import contextlib
import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import trio

from herald.config.button_actions import ButtonConfig

__all__ = ["NO_GPIO_MESSAGE", "NoGpio", "OnEdge", "OpenButtons", "open_buttons", "probe_pins"]

logger = logging.getLogger(__name__)

NO_GPIO_MESSAGE = "no GPIO on this machine: buttons are off"

# (button name, pressed?, trio.current_time()) — called in the trio thread.
OnEdge = Callable[[str, bool, float], None]


class _GpioButton(Protocol):
    """The part of gpiozero.Button used here."""

    when_pressed: Callable[[], None] | None
    when_released: Callable[[], None] | None

    def close(self) -> None: ...


class OpenButtons:
    """The gpiozero devices behind the configured buttons; `close()` releases the pins."""

    def __init__(self, devices: dict[str, _GpioButton]) -> None:
        self.devices = devices

    def close(self) -> None:
        for name, device in self.devices.items():
            device.when_pressed = None
            device.when_released = None
            try:
                device.close()
            except Exception:
                logger.exception("button %s: closing its pin failed", name)
        self.devices = {}


def _deliver(on_edge: OnEdge, name: str, pressed: bool) -> None:
    """Runs in the trio thread (via run_sync_soon): must never raise."""
    try:
        on_edge(name, pressed, trio.current_time())
    except Exception:
        logger.exception("button %s: handling the %s failed", name, _edge(pressed))


def _from_gpio_thread(token: trio.lowlevel.TrioToken, deliver: Callable[[], None]) -> None:
    """Runs in gpiozero's thread (or the pin driver's): hand the edge to trio."""
    # RunFinishedError: trio is gone (shutting down), so the edge has no one to go to.
    with contextlib.suppress(trio.RunFinishedError):
        token.run_sync_soon(deliver)


def _edge(pressed: bool) -> str:
    return "press" if pressed else "release"


def open_buttons(
    configs: Sequence[ButtonConfig], on_edge: OnEdge, pin_factory: Any = None
) -> OpenButtons | None:
    """Open a gpiozero Button per config, reporting edges to `on_edge` in the trio thread.

    Call from the trio thread. `pin_factory` None: gpiozero's default (GPIOZERO_PIN_FACTORY,
    else the first backend that loads). Returns None, after one log line, when this machine
    has no GPIO (gpiozero missing, or no pin factory loads). A button whose pin cannot be
    opened (invalid, in use) is logged and left out; the others work.
    """
    if not configs:
        return OpenButtons({})
    token = trio.lowlevel.current_trio_token()
    try:
        import gpiozero  # type: ignore[import-untyped]
    except ImportError:
        logger.warning(NO_GPIO_MESSAGE)
        return None
    devices: dict[str, _GpioButton] = {}
    for config in configs:
        try:
            with warnings.catch_warnings():
                # Each backend that fails to load warns; the one line below says it all.
                warnings.simplefilter("ignore", gpiozero.PinFactoryFallback)
                device: _GpioButton = gpiozero.Button(
                    config.pin,
                    pull_up=config.pull_up,
                    bounce_time=config.bounce_ms / 1000 if config.bounce_ms else None,
                    pin_factory=pin_factory,
                )
        except ImportError:  # gpiozero.BadPinFactory is an ImportError: no GPIO here
            OpenButtons(devices).close()
            logger.warning(NO_GPIO_MESSAGE)
            return None
        except Exception as exc:
            logger.error("button %s: cannot open pin %s: %s", config.name, config.pin, exc)
            continue
        for pressed in (True, False):
            deliver = functools.partial(_deliver, on_edge, config.name, pressed)
            callback = functools.partial(_from_gpio_thread, token, deliver)
            if pressed:
                device.when_pressed = callback
            else:
                device.when_released = callback
        devices[config.name] = device
    return OpenButtons(devices)


class NoGpio(Exception):
    """This machine has no GPIO that gpiozero can drive."""


def probe_pins(configs: Sequence[ButtonConfig], pin_factory: Any = None) -> list[str]:
    """Open and close each button's pin (for `herald doctor`); one line per pin that
    cannot be opened. Raises NoGpio when there is no GPIO at all. Blocking: run it in
    a worker thread."""
    try:
        import gpiozero
    except ImportError:
        raise NoGpio("gpiozero is not installed") from None
    problems = []
    for config in configs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", gpiozero.PinFactoryFallback)
                device = gpiozero.Button(
                    config.pin, pull_up=config.pull_up, pin_factory=pin_factory
                )
        except ImportError as exc:  # BadPinFactory: no backend loads here
            raise NoGpio(str(exc) or "no GPIO pin factory loads") from None
        except Exception as exc:
            problems.append(f"button {config.name}: pin {config.pin}: {exc}")
            continue
        device.close()
    return problems
