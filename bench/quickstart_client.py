"""The pattern of Cartesia's quickstart, as the baseline of bench/ttfa.py.

Cartesia's realtime quickstart (docs: "Stream text and play audio") makes the client
and the player once, then per request opens a WebSocket with the official SDK
(``client.tts.websocket_connect()``), makes a context, pushes the text, closes its
input and writes each chunk to the player as it arrives. This is that script with
two changes that the comparison needs: the player is pyalsaaudio (the same ALSA
``file:`` sink herald writes to) instead of ffplay, and the format is herald's
(pcm_s16le, 24 kHz, mono) so both write the same samples. The PCM is opened with
pyalsaaudio's defaults (4 periods of 32 frames), as a script would.

It reads one text per line on stdin and prints ``done`` after each (after draining
the PCM, as the quickstart's player does at its end); on start it prints
``READY <ALSA buffer frames>``.

    CARTESIA_API_KEY=... python bench/quickstart_client.py BASE_URL ALSA_DEVICE [CA_FILE]
"""

from __future__ import annotations

import os
import ssl
import sys

import alsaaudio  # type: ignore[import-not-found]
from cartesia import Cartesia

VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"  # herald's default voice
RATE = 24000


def main() -> None:
    base_url, device = sys.argv[1], sys.argv[2]
    options = {}
    if len(sys.argv) > 3:  # the emulator's test CA; the real API needs none
        options["ssl"] = ssl.create_default_context(cafile=sys.argv[3])
    client = Cartesia(api_key=os.environ["CARTESIA_API_KEY"], base_url=base_url)
    pcm = alsaaudio.PCM(
        alsaaudio.PCM_PLAYBACK,
        rate=RATE,
        channels=1,
        format=alsaaudio.PCM_FORMAT_S16_LE,
        device=device,
    )
    print(f"READY {pcm.info()['buffer_size']}", flush=True)
    for line in sys.stdin:
        text = line.rstrip("\n")
        with client.tts.websocket_connect(websocket_connection_options=options) as connection:
            ctx = connection.context(
                model_id="sonic-3",
                voice={"mode": "id", "id": VOICE},
                output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": RATE},
            )
            ctx.push(text)
            ctx.no_more_inputs()
            for response in ctx.receive():
                if response.type == "chunk" and response.audio:
                    pcm.write(response.audio)
                elif response.type == "done":
                    break
        pcm.drain()
        print("done", flush=True)


if __name__ == "__main__":
    main()
