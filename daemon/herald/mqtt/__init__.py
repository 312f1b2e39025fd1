"""herald's MQTT adapter: paho-mqtt 2.x (MQTT v5) driven by trio.

The only package that imports paho. The daemon codes against `Broker` and `Message`;
`MqttClient` is the real implementation, configured by `MqttSettings`.
"""

from herald.mqtt.broker import Broker as Broker
from herald.mqtt.broker import Message as Message
from herald.mqtt.broker import MqttStatistics as MqttStatistics
from herald.mqtt.broker import Publication as Publication
from herald.mqtt.client import MqttClient as MqttClient
from herald.mqtt.errors import MqttConnectError as MqttConnectError
from herald.mqtt.errors import MqttConnectionLost as MqttConnectionLost
from herald.mqtt.errors import MqttError as MqttError
from herald.mqtt.errors import MqttRefused as MqttRefused
from herald.mqtt.errors import MqttTlsError as MqttTlsError
from herald.mqtt.hearing import Hearing as Hearing
from herald.mqtt.hearing import TopicHearing as TopicHearing
from herald.mqtt.settings import MqttSettings as MqttSettings
from herald.mqtt.settings import availability_topic as availability_topic

__all__ = [
    "Broker",
    "Hearing",
    "Message",
    "MqttClient",
    "MqttConnectError",
    "MqttConnectionLost",
    "MqttError",
    "MqttRefused",
    "MqttSettings",
    "MqttStatistics",
    "MqttTlsError",
    "Publication",
    "TopicHearing",
    "availability_topic",
]
