"""Small views of piper and soxr, so `herald.local_voice.piper` is typed without importing
them, and the conversion of their float samples to pcm_s16le.

numpy is imported only for type checking, or by `to_s16le` (which only runs once piper
has loaded it), so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Loaded", "Piper", "PiperChunk", "PiperConfig", "Resampler", "to_s16le"]

_INT16_MAX = 32767.0


class PiperConfig(Protocol):
    @property
    def sample_rate(self) -> int: ...


class PiperChunk(Protocol):
    @property
    def sample_rate(self) -> int: ...

    @property
    def audio_float_array(self) -> npt.NDArray[Any]: ...


class Piper(Protocol):
    @property
    def config(self) -> PiperConfig: ...

    def synthesize(self, text: str, syn_config: Any = None) -> Iterable[PiperChunk]: ...


class Resampler(Protocol):
    def resample_chunk(
        self, x: npt.NDArray[np.float32], last: bool = False
    ) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class Loaded:
    piper: Piper
    syn_config: object  # piper.SynthesisConfig
    native_rate: int
    resampler: Callable[[], Resampler] | None  # None: native rate is the output rate


def to_s16le(audio: npt.NDArray[np.float32]) -> bytes:
    import numpy as np

    pcm: npt.NDArray[np.int16] = np.clip(
        np.rint(audio * _INT16_MAX), -_INT16_MAX, _INT16_MAX
    ).astype("<i2")
    return pcm.tobytes()
