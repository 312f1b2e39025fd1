"""The config file, validated once into one frozen `Config` (see `herald.config.load`)."""

from herald.config.load import (
    DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH,
)
from herald.config.load import (
    DEFAULT_VOICE as DEFAULT_VOICE,
)
from herald.config.load import (
    SECTIONS as SECTIONS,
)
from herald.config.load import (
    AudioConfig as AudioConfig,
)
from herald.config.load import (
    CacheConfig as CacheConfig,
)
from herald.config.load import (
    CartesiaConfig as CartesiaConfig,
)
from herald.config.load import (
    ClipsConfig as ClipsConfig,
)
from herald.config.load import (
    Config as Config,
)
from herald.config.load import (
    ConfigError as ConfigError,
)
from herald.config.load import (
    DeviceConfig as DeviceConfig,
)
from herald.config.load import (
    MqttConfig as MqttConfig,
)
from herald.config.load import (
    OfflineConfig as OfflineConfig,
)
from herald.config.load import (
    QuietHoursConfig as QuietHoursConfig,
)
from herald.config.load import (
    StreamConfig as StreamConfig,
)
from herald.config.load import (
    build_config as build_config,
)
from herald.config.load import (
    default_config_path as default_config_path,
)
from herald.config.load import (
    device_id_from_hostname as device_id_from_hostname,
)
from herald.config.load import (
    load_config as load_config,
)
from herald.config.load import (
    parse_config as parse_config,
)
