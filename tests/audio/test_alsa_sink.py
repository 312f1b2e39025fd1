"""The real sink: pyalsaaudio through ALSA's ``file`` plugin, and its error mapping.

``file:FILE=<path>,FORMAT=raw`` needs no sound card: alsa-lib's stock definition
(``pcm.file`` in alsa.conf) puts the ``null`` PCM behind it as the slave, and writes
exactly the frames played to the file. The null slave has no clock (``avail()`` is
always the whole ring), so the player's pacing budget is what keeps it real-time.
"""

from __future__ import annotations

import errno
import random
from array import array
from pathlib import Path

import pytest
import trio
import trio.testing

from herald.audio import AlsaDevice, AudioState, Geometry, Player, PlayerTuning
from herald.audio.alsa_sink import AlsaSink, _AlsaError
from herald.audio.sink import SinkLost, SinkOpenError, Underrun

RATE = 24000


def file_device(path: Path) -> AlsaDevice:
    return AlsaDevice(f"file:FILE={path},FORMAT=raw")


def random_pcm(frames: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    # No zero sample, so the captured file with its silence removed must equal it.
    return array(
        "h", [rng.choice((-1, 1)) * rng.randint(1, 32767) for _ in range(frames)]
    ).tobytes()


async def test_played_through_real_alsa_bit_for_bit(tmp_path: Path) -> None:
    """Real time, real pyalsaaudio: the file holds the input, plus only exact silence."""
    path = tmp_path / "played.raw"
    data = random_pcm(RATE // 2)
    player = Player(file_device(path), RATE, tuning=PlayerTuning(idle_close_s=None))
    async with trio.open_nursery() as nursery:
        await nursery.start(player.run)
        assert player.status.value.state is AudioState.OPEN
        stream = player.open_stream()
        for i in range(0, len(data), 4096):  # 2048-frame chunks, as Cartesia sends
            stream.feed(data[i : i + 4096])
            await trio.sleep(0)
        stream.end()
        with trio.fail_after(5):
            metrics = await stream.wait_done()
        nursery.cancel_scope.cancel()
    captured = array("h", path.read_bytes())
    assert array("h", [v for v in captured if v]).tobytes() == data
    assert metrics.underruns == 0 and metrics.xruns == 0
    assert metrics.frames_played == RATE // 2
    assert stream.first_sample_time is not None


def test_open_reads_back_the_geometry(tmp_path: Path) -> None:
    sink = file_device(tmp_path / "x.raw").open(Geometry.request(RATE, 0.020, 4))
    try:
        assert sink.geometry == Geometry(RATE, 480, 1920)
        assert sink.avail() == 1920
        assert sink.write(bytes(960)) == 480
        assert sink.write(memoryview(bytes(960))[:480]) == 240
    finally:
        sink.close()
    sink.close()  # idempotent
    with pytest.raises(SinkLost, match="closed"):
        sink.avail()
    with pytest.raises(SinkLost, match="closed"):
        sink.write(bytes(2))


def test_a_ring_of_two_periods_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SinkOpenError, match="fewer than 3 periods"):
        file_device(tmp_path / "x.raw").open(Geometry.request(RATE, 0.020, 2))


def test_a_missing_device_names_itself() -> None:
    with pytest.raises(SinkOpenError, match=r"hw:CARD=HeraldNoSuchCard"):
        AlsaDevice("hw:CARD=HeraldNoSuchCard,DEV=0").open(Geometry.request(RATE, 0.020, 4))


async def test_player_reports_and_retries_a_missing_real_device(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    player = Player(AlsaDevice("hw:CARD=HeraldNoSuchCard,DEV=0"), RATE)
    await nursery.start(player.run)
    status = player.status.value
    assert status.state is AudioState.ERROR
    assert "hw:CARD=HeraldNoSuchCard,DEV=0" in str(status) and "retrying" in str(status)
    await trio.sleep(10)
    assert player.status.value.state is AudioState.ERROR  # still trying, still there


class FakePcm:
    """pyalsaaudio's return conventions, scripted."""

    def __init__(self) -> None:
        self.avail_results: list[int | Exception] = []
        self.write_results: list[int | Exception] = []
        self.dropped = 0
        self.closed = False

    def info(self) -> dict[str, object]:
        return {}

    def avail(self) -> int:
        result = self.avail_results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def write(self, data: bytes | bytearray | memoryview) -> int:
        result = self.write_results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def drop(self) -> int:
        self.dropped += 1
        return 0

    def close(self) -> None:
        self.closed = True


def fake_sink() -> tuple[AlsaSink, FakePcm]:
    pcm = FakePcm()
    return AlsaSink(pcm, "fake", Geometry(RATE, 480, 1920)), pcm


def test_epipe_from_write_is_an_underrun_and_the_handle_stays_usable() -> None:
    sink, pcm = fake_sink()
    pcm.write_results = [-errno.EPIPE, 480]
    with pytest.raises(Underrun):
        sink.write(bytes(960))
    assert sink.write(bytes(960)) == 480


def test_epipe_from_avail_drops_so_the_next_write_prepares() -> None:
    sink, pcm = fake_sink()
    pcm.avail_results = [-errno.EPIPE]
    with pytest.raises(Underrun):
        sink.avail()
    assert pcm.dropped == 1
    assert sink.avail() == 1920  # not asked: the stream is in SETUP until written
    pcm.write_results = [480]
    pcm.avail_results = [1440]
    assert sink.write(bytes(960)) == 480
    assert sink.avail() == 1440


@pytest.mark.parametrize("code", [errno.ENODEV, errno.EIO, errno.EBADFD])
def test_other_errors_mean_the_handle_is_dead(code: int) -> None:
    sink, pcm = fake_sink()
    pcm.avail_results = [-code]
    with pytest.raises(SinkLost, match=r"\[fake\]"):
        sink.avail()


def test_a_raising_write_means_the_handle_is_dead() -> None:
    sink, pcm = fake_sink()
    pcm.write_results = [_AlsaError("Input/output error [fake]")]
    with pytest.raises(SinkLost, match="Input/output error"):
        sink.write(bytes(960))
    sink.close()
    assert pcm.closed and pcm.dropped == 1


def test_the_handle_for_rewinding_is_found_on_a_real_pcm(tmp_path: Path) -> None:
    """snd_pcm_rewind through ctypes on pyalsaaudio's own handle: the struct is
    recognised on this build, and alsa-lib takes back frames queued on it. (The sink
    itself only rewinds PCMs on a card; the file plugin has none, so it is used here
    through `_Rewind` directly.)"""
    from herald.audio.alsa_sink import _Rewind

    device = file_device(tmp_path / "out.raw")
    sink = device.open(Geometry.request(RATE, 0.010, 16))
    assert sink.rewindable() == 0 and sink._rewind is None  # no card: no rewind
    rewind = _Rewind.of(sink._pcm, device.name)  # type: ignore[arg-type]
    sink._rewind = rewind
    try:
        assert rewind is not None
        assert sink.rewindable() == 0
        assert sink.write(bytes(2 * 1000)) == 1000
        # The file plugin holds what it has not yet written out: that is rewindable.
        assert 0 < sink.rewindable() <= 1000
        assert sink.rewind(100) == 100
        assert sink.rewind(0) == 0
    finally:
        sink.close()
    with pytest.raises(SinkLost):
        sink.rewindable()
    with pytest.raises(SinkLost):
        sink.rewind(10)


def test_no_rewind_on_anything_but_pyalsaaudios_pcm() -> None:
    from herald.audio.alsa_sink import _Rewind

    assert _Rewind.of(FakePcm(), "fake") is None  # type: ignore[arg-type]
    sink = AlsaSink(FakePcm(), "fake", Geometry(RATE, 240, 3840))  # type: ignore[arg-type]
    assert sink.rewindable() == 0 and sink.rewind(100) == 0


def test_no_rewind_under_a_pyalsaaudio_whose_layout_was_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from herald.audio import alsa_sink

    sink = file_device(tmp_path / "out.raw").open(Geometry.request(RATE, 0.010, 16))
    try:
        assert alsa_sink._Rewind.of(sink._pcm, "file") is not None  # type: ignore[arg-type]
        monkeypatch.setattr(alsa_sink, "_KNOWN_LAYOUT", False)  # another release
        assert alsa_sink._Rewind.of(sink._pcm, "file") is None  # type: ignore[arg-type]
    finally:
        sink.close()
