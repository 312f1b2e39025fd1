"""Audio output: streamed PCM through a jitter buffer to ALSA.

Typical use::

    player = Player(AlsaDevice(cfg.audio.device), cfg.audio.sample_rate, volume=cfg.audio.volume)
    await nursery.start(player.run)
    stream = player.open_stream()
    stream.start_at(deadline)  # optional: start at this trio time, sample-accurately
    async for chunk in utterance:  # as chunks arrive
        stream.feed(chunk)
    stream.end()
    metrics = await stream.wait_done()

Modules: `sink` (the device Protocol and its errors), `alsa_sink` (pyalsaaudio),
`sim_sink` (a simulated card on trio's clock), `pcm` (fades, volume), `jitter`
(lateness and the start threshold), `playout` (one utterance's state machine),
`fill` (how full the ring is kept, how often the writer wakes), `writer` (keeps a
sink fed), `stream` and `player` (the service).
"""

from herald.audio.alsa_sink import AlsaDevice
from herald.audio.jitter import TargetTuning
from herald.audio.player import AudioState, AudioStatus, Player, PlayerTuning
from herald.audio.sink import Geometry, PcmSink, SinkDevice
from herald.audio.stream import Stream, StreamMetrics

__all__ = [
    "AlsaDevice",
    "AudioState",
    "AudioStatus",
    "Geometry",
    "PcmSink",
    "Player",
    "PlayerTuning",
    "SinkDevice",
    "Stream",
    "StreamMetrics",
    "TargetTuning",
]
