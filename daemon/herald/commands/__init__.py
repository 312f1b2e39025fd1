"""MQTT payloads to typed, trusted commands: the edge validation (see `herald.commands.parse`)."""

from herald.commands.parse import (
    EMOTIONS as EMOTIONS,
)
from herald.commands.parse import (
    MAX_AT_MS as MAX_AT_MS,
)
from herald.commands.parse import (
    MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES,
)
from herald.commands.parse import (
    HermesSay as HermesSay,
)
from herald.commands.parse import (
    Priority as Priority,
)
from herald.commands.parse import (
    Rejected as Rejected,
)
from herald.commands.parse import (
    SayCommand as SayCommand,
)
from herald.commands.parse import (
    StopCommand as StopCommand,
)
from herald.commands.parse import (
    StreamChunk as StreamChunk,
)
from herald.commands.parse import (
    VolumeCommand as VolumeCommand,
)
from herald.commands.parse import (
    new_id as new_id,
)
from herald.commands.parse import (
    parse_hermes_say as parse_hermes_say,
)
from herald.commands.parse import (
    parse_say as parse_say,
)
from herald.commands.parse import (
    parse_stop as parse_stop,
)
from herald.commands.parse import (
    parse_stream_chunk as parse_stream_chunk,
)
from herald.commands.parse import (
    parse_volume as parse_volume,
)
