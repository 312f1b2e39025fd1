"""Cartesia's official SDK (4.x), driven from trio in worker threads, against the emulator."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import trio
from cartesia import Cartesia

from cartesia_emulator import Emulator

VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
PARTS = ["Hi there! ", "Wel", "come to ", "Cartesia Son", "ic, the emulated edition."]
TEXT = "".join(PARTS)
T = TypeVar("T")
SDK_TIMEOUT = 60.0
# PY4 types voices as a bare id or {"id": ...}; the mode form still works on the wire.
MODE_ID_VOICE: Any = {"mode": "id", "id": VOICE}


class Sdk:
    """Builds SDK clients that trust the test CA, and runs blocking SDK code in a thread."""

    def __init__(self, emu: Emulator, ca_file: Path, api_key: str) -> None:
        self.emu = emu
        self.api_key = api_key
        self.trust = ssl.create_default_context(cafile=str(ca_file))

    def client(self, api_key: str | None = None) -> Cartesia:
        return Cartesia(
            api_key=api_key or self.api_key,
            base_url=self.emu.http_url,
            http_client=httpx.Client(verify=self.trust),
            max_retries=0,
            # Validate every response against the SDK's own models, not lazily.
            _strict_response_validation=True,
        )

    def ws_options(self) -> Any:
        return {"ssl": self.trust}

    async def run(self, fn: Callable[[], T]) -> T:
        # Abandon a hung SDK call so the test fails instead of blocking the run;
        # tearing down the emulator then breaks the thread's sockets.
        with trio.fail_after(SDK_TIMEOUT):
            return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
