"""Where a say's audio comes from: the clip cache, Cartesia, the local voice, the chime.

The order between them is decided once, in `herald.speech.fallback`; the voices
(`cached`, `cloud`, `cloud_stream`, `local`) report what happened to a `Production`,
the record of one say, which the speaker reads.
"""

from herald.speech.fallback import produce as produce
from herald.speech.production import Production as Production
from herald.speech.production import Sources as Sources
from herald.speech.production import SpeechFailed as SpeechFailed
