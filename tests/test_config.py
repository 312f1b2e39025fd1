"""herald.config and herald.secret: defaults, every key, all errors at once, secrets."""

import datetime as dt
import pickle
import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_VOICE,
    SECTIONS,
    AudioConfig,
    CacheConfig,
    CartesiaConfig,
    ClipsConfig,
    Config,
    ConfigError,
    DeviceConfig,
    EsphomeConfig,
    MqttConfig,
    OfflineConfig,
    QuietHoursConfig,
    StreamConfig,
    build_config,
    default_config_path,
    device_id_from_hostname,
    load_config,
    parse_config,
)
from herald.config import load as config_module
from herald.config.sections import NamedVoice
from herald.config.transforms import TransformTable
from herald.secret import Secret, SecretFileError, read_secret_file
from herald.speech.transforms import PauseAfterQuestions, Replace, Spell

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "herald.toml"
SECRET = "sk_car_SECRET-value-7f3a9"
PASSWORD = "hunter2-mqtt-PASSWORD-b1c4"

# Every key of product.md's Configuration section (plus the TLS files), with a
# non-default value, written as TOML.
ALL_KEYS_TOML = """
[device]
id = "kitchen"
groups = ["downstairs", "everywhere"]
state_file = "/tmp/herald-state.json"

[mqtt]
host = "broker.lan"
port = 8883
topic_prefix = "speakers"
username = "herald-user"
password_file = ""
tls = true
ca_file = "/etc/ssl/ca.pem"
certfile = "/etc/herald/client.pem"
keyfile = "/etc/herald/client.key"
discovery = false
discovery_prefix = "ha"
hermes = true

[cartesia]
url = "ws://127.0.0.1:9000/tts/websocket"
api_url = "http://127.0.0.1:9000"
api_key_file = ""
version = "2024-11-13"
model = "sonic-2"
voice = "a0e99841-438c-4a64-b679-ae501e7d6091"
language = "pt-BR"
voices = [{name = "calm", id = "a0e99841-438c-4a64-b679-ae501e7d6091"}, {name = "b", id = "b0"}]
speed = 1.2
emotion = "content"
loudness = 1.5
pronunciation_dict_id = "pdict_family-names"

[audio]
device = "file:FILE=/tmp/out.raw,FORMAT=raw"
sample_rate = 44100
volume = 35
idle_close = 0
lead_in_ms = 400

[cache]
dir = "/tmp/herald-cache"
max_mb = 1

[offline]
local_voice = "none"
piper_model = "/opt/voices/en_GB-alan.onnx"
preload = true
cloud_timeout = 2.5

[clips]
dir = "/srv/clips"
chime_while_waiting = true

[quiet_hours]
windows = ["22:00-07:00", "13:00-14:30"]
mode = "drop"
volume = 10

[stream]
idle_timeout = 3.5

[esphome]
enabled = true
port = 6054
name = "kitchen-speaker"
friendly_name = "Kitchen speaker"
key_file = ""
advertise = false

[[transforms]]
spell = "phone_numbers"

[[transforms]]
spell = "codes"

[[transforms]]
spell_pattern = "[0-9]{4}"

[[transforms]]
pause_after_questions = 0.75

[[transforms]]
replace = {Siobhan = "Shiv-awn", "Dr." = "Doctor"}
ignore_case = true
"""

ALL_KEYS = Config(
    device=DeviceConfig(
        id="kitchen", groups=("downstairs", "everywhere"), state_file="/tmp/herald-state.json"
    ),
    mqtt=MqttConfig(
        host="broker.lan",
        port=8883,
        topic_prefix="speakers",
        username="herald-user",
        password_file="",
        tls=True,
        ca_file="/etc/ssl/ca.pem",
        certfile="/etc/herald/client.pem",
        keyfile="/etc/herald/client.key",
        discovery=False,
        discovery_prefix="ha",
        hermes=True,
    ),
    cartesia=CartesiaConfig(
        url="ws://127.0.0.1:9000/tts/websocket",
        api_url="http://127.0.0.1:9000",
        api_key_file="",
        version="2024-11-13",
        model="sonic-2",
        voice="a0e99841-438c-4a64-b679-ae501e7d6091",
        language="pt-BR",
        voices=(
            NamedVoice(name="calm", id="a0e99841-438c-4a64-b679-ae501e7d6091"),
            NamedVoice(name="b", id="b0"),
        ),
        speed=1.2,
        emotion="content",
        loudness=1.5,
        pronunciation_dict_id="pdict_family-names",
    ),
    audio=AudioConfig(
        device="file:FILE=/tmp/out.raw,FORMAT=raw",
        sample_rate=44100,
        volume=35,
        idle_close=0.0,
        lead_in_ms=400,
    ),
    cache=CacheConfig(dir="/tmp/herald-cache", max_mb=1),
    offline=OfflineConfig(
        local_voice="none",
        piper_model="/opt/voices/en_GB-alan.onnx",
        preload=True,
        cloud_timeout=2.5,
    ),
    clips=ClipsConfig(dir="/srv/clips", chime_while_waiting=True),
    quiet_hours=QuietHoursConfig(windows=("22:00-07:00", "13:00-14:30"), mode="drop", volume=10),
    stream=StreamConfig(idle_timeout=3.5),
    esphome=EsphomeConfig(
        enabled=True,
        port=6054,
        name="kitchen-speaker",
        friendly_name="Kitchen speaker",
        advertise=False,
    ),
    transforms=(
        Spell("phone_numbers"),
        Spell("codes"),
        Spell("pattern", "[0-9]{4}"),
        PauseAfterQuestions(0.75),
        Replace((("Siobhan", "Shiv-awn"), ("Dr.", "Doctor")), ignore_case=True),
    ),
)


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {})
    return info.value.errors


# --- defaults and every key ---


def test_empty_file_gives_the_documented_defaults() -> None:
    config = parse_config("", {})
    assert config == Config()
    assert config.device.id == device_id_from_hostname(socket.gethostname())
    assert msgspec.structs.asdict(config.mqtt) == {
        "host": "localhost",
        "port": 1883,
        "topic_prefix": "herald",
        "username": "",
        "password_file": "",
        "tls": False,
        "ca_file": "",
        "certfile": "",
        "keyfile": "",
        "discovery": True,
        "discovery_prefix": "homeassistant",
        "hermes": False,
    }
    assert msgspec.structs.asdict(config.cartesia) == {
        "url": "wss://api.cartesia.ai/tts/websocket",
        "api_url": "https://api.cartesia.ai",
        "api_key_file": "",
        "version": "2026-08-14",
        "model": "sonic-3",
        "voice": DEFAULT_VOICE,
        "language": "en",
        "voices": (),
        "speed": None,
        "emotion": None,
        "loudness": None,
        "pronunciation_dict_id": "",
    }
    assert config.transforms == ()
    assert DEFAULT_VOICE == "f786b574-daa5-4673-aa0c-cbe3e8534c02"
    assert config.audio == AudioConfig(device="default", sample_rate=24000, volume=100)
    assert config.cache == CacheConfig(dir="/var/cache/herald", max_mb=256)
    assert config.offline == OfflineConfig(local_voice="piper")
    assert config.cartesia_api_key is None
    assert config.mqtt_password is None


def test_empty_sections_give_defaults() -> None:
    text = "".join(f"[{name}]\n" for name in SECTIONS)
    assert parse_config(text, {}) == Config()


def test_every_key_round_trips() -> None:
    assert parse_config(ALL_KEYS_TOML, {}) == ALL_KEYS


def test_every_key_is_covered_and_differs_from_its_default() -> None:
    defaults = Config()
    for name, section_type in SECTIONS.items():
        for field in msgspec.structs.fields(section_type):
            if field.name in {"password_file", "api_key_file", "key_file"}:
                continue  # secret files are tested with real files below
            given_value = getattr(getattr(ALL_KEYS, name), field.name)
            default = getattr(getattr(defaults, name), field.name)
            assert given_value != default, f"{name}.{field.name} not exercised"


def test_sections_registry_matches_config_fields() -> None:
    assert list(SECTIONS) == [
        *("device", "mqtt", "cartesia", "audio", "cache", "offline", "clips"),
        *("quiet_hours", "stream", "esphome"),
    ]
    assert SECTIONS["mqtt"] is MqttConfig


def test_example_config_parses_to_the_defaults() -> None:
    assert parse_config(EXAMPLE.read_text(), {}, str(EXAMPLE)) == Config()


def test_example_config_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    for name, section_type in SECTIONS.items():
        assert f"[{name}]" in text
        for field in msgspec.structs.fields(section_type):
            assert f"\n{field.encode_name} = " in text or f"# {field.encode_name} = " in text
    # The arrays of tables, shown commented out: every key of a block is there too.
    assert "# [[transforms]]" in text
    for field in msgspec.structs.fields(TransformTable):
        assert f"# {field.encode_name} = " in text, f"[[transforms]] {field.encode_name}"
    assert "mix" not in text  # Cartesia removed mixing: the example must not offer it


def test_tls_without_ca_file_is_allowed() -> None:
    config = parse_config("[mqtt]\ntls = true\nport = 8883\n", {})
    assert config.mqtt.tls
    assert config.mqtt.ca_file == ""


# --- errors ---


def test_three_errors_are_reported_at_once_with_key_and_value() -> None:
    text = """
[audio]
sampel_rate = 16000
volume = 150

[mqtt]
port = "1883"
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, {}, "herald.toml")
    errors = info.value.errors
    assert errors == [
        "audio.sampel_rate: unknown key (allowed: device, sample_rate, volume, idle_close,"
        " lead_in_ms)",
        "audio.volume = 150: must be an integer from 0 to 100",
        'mqtt.port = "1883": must be an integer from 1 to 65535',
    ]
    assert str(info.value).splitlines() == [f"herald.toml: {e}" for e in errors]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[mqtt]\nport = 70000", "mqtt.port = 70000: must be an integer from 1 to 65535"),
        ("[mqtt]\nport = 0", "mqtt.port = 0: must be an integer from 1 to 65535"),
        ("[mqtt]\ntls = 1", "mqtt.tls = 1: must be true or false"),
        ("[mqtt]\nhost = ''", 'mqtt.host = "": must be a non-empty string'),
        ("[mqtt]\ntopic_prefix = 'a/b'", 'mqtt.topic_prefix = "a/b": must be 1 to 64 letters'),
        ("[mqtt]\ntopic_prefix = '#'", 'mqtt.topic_prefix = "#": must be 1 to 64 letters'),
        ("[mqtt]\ntopic_prefix = ''", 'mqtt.topic_prefix = "": must be 1 to 64 letters'),
        ("[device]\nid = 'a+b'", 'device.id = "a+b": must be 1 to 64 letters'),
        ("[device]\nid = 'all'", 'device.id = "all": must be 1 to 64 letters'),
        ('[device]\nid = "x\\n"', 'device.id = "x\\n": must be 1 to 64 letters'),
        ("[audio]\nsample_rate = 12000", "audio.sample_rate = 12000: must be one of 8000, 16000,"),
        ("[audio]\nsample_rate = 24000.0", "audio.sample_rate = 24000.0: must be one of 8000,"),
        ("[audio]\nvolume = -1", "audio.volume = -1: must be an integer from 0 to 100"),
        ("[audio]\nidle_close = -1", "audio.idle_close = -1: must be a number of seconds from 0"),
        ("[audio]\nidle_close = 'never'", 'audio.idle_close = "never": must be a number of'),
        ("[audio]\nlead_in_ms = 2500", "audio.lead_in_ms = 2500: must be an integer from 0 to"),
        ("[audio]\nlead_in_ms = 0.1", "audio.lead_in_ms = 0.1: must be an integer from 0 to"),
        ("[cache]\nmax_mb = 0", "cache.max_mb = 0: must be an integer >= 1"),
        ("[offline]\nlocal_voice = 'espeak'", 'offline.local_voice = "espeak": must be one of'),
        ("[cartesia]\nurl = 'https://x'", 'cartesia.url = "https://x": must be a ws:// or wss://'),
        ("[cartesia]\nurl = 'wss://'", 'cartesia.url = "wss://": must be a ws:// or wss:// URL'),
        ("[cartesia]\napi_url = 'wss://x'", 'cartesia.api_url = "wss://x": must be an http://'),
        ("[cartesia]\nversion = '16.04.2025'", 'cartesia.version = "16.04.2025": must be a date'),
        ("[cartesia]\nversion = '2025-02-30'", 'cartesia.version = "2025-02-30": not a valid date'),
        (
            "[cartesia]\nversion = 2025-04-16",
            'cartesia.version = 2025-04-16: must be a date YYYY-MM-DD; write it in quotes: "2025-',
        ),
        ("[cartesia]\nmodel = ['a']", 'cartesia.model = ["a"]: must be a non-empty string'),
        ("[mqtt]\ncertfile = 'c.pem'\ntls = true", 'mqtt.certfile = "c.pem": needs mqtt.keyfile'),
        ("[mqtt]\nkeyfile = 'k.pem'\ntls = true", 'mqtt.keyfile = "k.pem": needs mqtt.certfile'),
        ("[mqtt]\nca_file = 'ca.pem'", 'mqtt.ca_file = "ca.pem": only used with mqtt.tls = true'),
        ("mqtt = 3", "mqtt = 3: must be a table ([mqtt])"),
        ("[speaker]\nx = 1", "speaker: unknown section (allowed: device, mqtt, cartesia,"),
        ("port = 1883", "port: unknown key outside any section"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(text: str, error: str) -> None:
    errors = errors_of(text)
    assert len(errors) == 1
    assert errors[0].startswith(error), errors[0]


def test_long_values_are_shortened_in_errors() -> None:
    (error,) = errors_of(f"[mqtt]\nhost = {'x' * 1000!r}\nport = 'p{'y' * 1000}'")
    assert len(error) < 200


def test_toml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[mqtt]\nport = 1883\nhost = \n", {}, "bad.toml")
    assert len(info.value.errors) == 1
    assert "line 3" in info.value.errors[0]
    assert str(info.value).startswith("bad.toml: TOML syntax error")


def test_duplicate_key_is_a_syntax_error() -> None:
    (error,) = errors_of("[audio]\nvolume = 1\nvolume = 2\n")
    assert "TOML syntax error" in error
    assert "line 3" in error


def test_config_error_str_and_repr() -> None:
    exc = ConfigError(["a: x", "b: y"], "f.toml")
    assert str(exc) == "f.toml: a: x\nf.toml: b: y"
    assert exc.errors == ["a: x", "b: y"]
    assert "a: x" in repr(exc)


# --- frozen, typed ---


def test_config_is_frozen() -> None:
    config = parse_config("", {})
    with pytest.raises(AttributeError):
        config.mqtt = MqttConfig()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.mqtt.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        MqttConfig(1883)  # type: ignore[call-arg, arg-type]  # keyword-only
    hash(config)


# --- device id ---


@pytest.mark.parametrize(
    ("hostname", "device_id"),
    [
        ("kitchen", "kitchen"),
        ("Kitchen-Pi", "kitchen-pi"),
        ("living room.local", "livingroomlocal"),
        ("pi_4+#/x", "pi_4x"),
        ("Küche", "kche"),
        ("...", "herald"),
        ("", "herald"),
        ("ALL", "herald"),
        ("x" * 100, "x" * 64),
    ],
)
def test_device_id_from_hostname(hostname: str, device_id: str) -> None:
    assert device_id_from_hostname(hostname) == device_id


def test_default_device_id_is_the_sanitised_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "Bath Room!")
    assert parse_config("", {}).device.id == "bathroom"
    assert parse_config("[device]\nid = 'hall'", {}).device.id == "hall"


@given(st.text())
def test_sanitised_host_names_are_valid_device_ids(hostname: str) -> None:
    device_id = device_id_from_hostname(hostname)
    assert parse_config(f'[device]\nid = "{device_id}"', {}).device.id == device_id


# --- secrets ---


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_secret_from_file_strips_the_newline(tmp_path: Path) -> None:
    key = write(tmp_path / "key", SECRET + "\n")
    pw = write(tmp_path / "pw", PASSWORD + "\r\n")
    text = f"[cartesia]\napi_key_file = '{key}'\n[mqtt]\nusername = 'u'\npassword_file = '{pw}'\n"
    config = parse_config(text, {})
    assert config.cartesia_api_key is not None
    assert config.cartesia_api_key.reveal() == SECRET
    assert config.mqtt_password is not None
    assert config.mqtt_password.reveal() == PASSWORD


def test_secret_precedence_file_then_credentials_then_env(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    file_key = write(tmp_path / "key", "from-file")
    env = {
        "CARTESIA_API_KEY": "from-env",
        "HERALD_MQTT_PASSWORD": "pw-from-env",
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    with_file = f"[cartesia]\napi_key_file = '{file_key}'\n"

    # Credentials directory without the files: the environment.
    config = parse_config("", env)
    assert config.cartesia_api_key == Secret("from-env")
    assert config.mqtt_password == Secret("pw-from-env")

    write(creds / "cartesia_api_key", "from-credentials\n")
    write(creds / "mqtt_password", "pw-from-credentials\n")
    config = parse_config("", env)
    assert config.cartesia_api_key == Secret("from-credentials")
    assert config.mqtt_password == Secret("pw-from-credentials")

    config = parse_config(with_file, env)
    assert config.cartesia_api_key == Secret("from-file")
    assert config.mqtt_password == Secret("pw-from-credentials")


def test_no_secret_anywhere_means_none(tmp_path: Path) -> None:
    config = parse_config("", {"CARTESIA_API_KEY": "", "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.cartesia_api_key is None
    assert config.mqtt_password is None


def test_unreadable_secret_file_names_key_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    (error,) = errors_of(f"[cartesia]\napi_key_file = '{missing}'\n")
    assert error.startswith(f'cartesia.api_key_file = "{missing}": cannot read')
    assert "No such file" in error

    (error,) = errors_of(f"[mqtt]\npassword_file = '{tmp_path}'\n")
    assert error.startswith(f'mqtt.password_file = "{tmp_path}": cannot read')

    empty = write(tmp_path / "empty", "\n")
    (error,) = errors_of(f"[mqtt]\npassword_file = '{empty}'\n")
    assert error == f'mqtt.password_file = "{empty}": the file is empty'


def test_unreadable_credential_names_it(tmp_path: Path) -> None:
    (tmp_path / "cartesia_api_key").mkdir()
    (error,) = errors_of("", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "cartesia.api_key_file unset" in error
    assert str(tmp_path / "cartesia_api_key") in error


def test_secrets_never_appear_in_repr_str_or_errors(tmp_path: Path) -> None:
    key = write(tmp_path / "key", SECRET)
    env = {"HERALD_MQTT_PASSWORD": PASSWORD}
    config = parse_config(f"[cartesia]\napi_key_file = '{key}'\n", env)
    for text in (repr(config), str(config), f"{config}", repr(msgspec.structs.asdict(config))):
        assert SECRET not in text
        assert PASSWORD not in text
    assert repr(config.cartesia_api_key) == "Secret('********')"
    with pytest.raises(TypeError) as encode_error:
        msgspec.json.encode(config)
    assert SECRET not in str(encode_error.value)

    # Errors elsewhere in the file, with the secrets loaded.
    bad = f"[cartesia]\napi_key_file = '{key}'\nmodel = ''\n[mqtt]\nport = -1\n"
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env)
    for text in (str(info.value), repr(info.value), repr(info.value.args), *info.value.errors):
        assert SECRET not in text
        assert PASSWORD not in text


def test_secret_file_content_never_appears_in_errors(tmp_path: Path) -> None:
    not_utf8 = tmp_path / "key"
    not_utf8.write_bytes(SECRET.encode() + b"\xff\xfe" + SECRET.encode())
    with pytest.raises(ConfigError) as info:
        parse_config(f"[cartesia]\napi_key_file = '{not_utf8}'\n", {})
    (error,) = info.value.errors
    assert "not valid UTF-8" in error
    assert SECRET not in str(info.value)
    with pytest.raises(SecretFileError) as secret_error:
        read_secret_file(not_utf8)
    exc: BaseException | None = secret_error.value
    while exc is not None:  # nor in anything chained to it
        assert SECRET not in str(exc)
        assert "\\xff" not in str(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


# --- Secret ---


def test_secret_hides_its_value() -> None:
    secret = Secret(SECRET)
    assert secret.reveal() == SECRET
    assert repr(secret) == "Secret('********')"
    assert str(secret) == "********"
    assert f"{secret}" == "********"
    assert f"{secret!r}" == "Secret('********')"
    assert f"{secret:>40}" == "********"
    assert "%s %r" % (secret, secret) == "******** Secret('********')"  # noqa: UP031
    assert SECRET not in repr([secret, {"k": secret}])
    with pytest.raises(AttributeError):
        secret.value = "x"
    with pytest.raises(TypeError):
        vars(secret)  # no __dict__


def test_secret_compares_by_value_and_is_false_when_empty() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert not Secret("")
    assert Secret("x")
    assert pickle.loads(pickle.dumps(Secret("a"))) == Secret("a")
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_read_secret_file(tmp_path: Path) -> None:
    assert read_secret_file(write(tmp_path / "a", "v\n")) == Secret("v")
    assert read_secret_file(str(write(tmp_path / "b", "  v w \n\n"))) == Secret("  v w ")
    with pytest.raises(SecretFileError) as info:
        read_secret_file(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(info.value)
    assert info.value.path == tmp_path / "missing"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    with pytest.raises(SecretFileError, match="larger than"):
        read_secret_file(big)


# --- load_config ---


def test_default_config_path() -> None:
    assert default_config_path({}) == DEFAULT_CONFIG_PATH == Path("/etc/herald/config.toml")
    assert default_config_path({"HERALD_CONFIG": "/x.toml"}) == Path("/x.toml")
    assert default_config_path({"HERALD_CONFIG": ""}) == DEFAULT_CONFIG_PATH


def test_load_config_reads_the_given_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", ALL_KEYS_TOML)
    assert load_config(path, {}) == ALL_KEYS
    assert load_config(None, {"HERALD_CONFIG": str(path)}) == ALL_KEYS


def test_missing_default_file_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert load_config(None, {}) == Config()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    for path, env in ((missing, {}), (None, {"HERALD_CONFIG": str(missing)})):
        with pytest.raises(ConfigError) as info:
            load_config(path, env)
        assert info.value.errors == ["config file not found"]
        assert str(info.value) == f"{missing}: config file not found"


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[audio]\nvolume = 101\n")
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/c.toml: audio.volume = 101: "):
        load_config(path, {})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, {})
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[audio]\n\xffvolume = 1\n")
    with pytest.raises(ConfigError, match="not valid UTF-8 \\(at line 2\\)"):
        load_config(bad, {})


def test_load_config_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf[audio]\nvolume = 5\n")
    assert load_config(path, {}).audio.volume == 5


# --- robustness ---

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
known_keys = sorted({f.encode_name for tp in SECTIONS.values() for f in msgspec.structs.fields(tp)})
key_names = st.sampled_from(known_keys) | st.text(max_size=12)
section_names = st.sampled_from(sorted(SECTIONS)) | st.text(max_size=12)
documents = st.dictionaries(
    section_names,
    st.dictionaries(key_names, toml_values, max_size=6) | toml_values,
    max_size=6,
)


@settings(max_examples=300)
@given(documents)
def test_arbitrary_toml_data_raises_only_config_error(data: dict[str, Any]) -> None:
    try:
        config = build_config(data, {})
    except ConfigError as exc:
        assert exc.errors
        assert all(isinstance(e, str) and "\n" not in e for e in exc.errors)
    else:
        assert isinstance(config, Config)


@given(st.text())
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    try:
        parse_config(text, {})
    except ConfigError as exc:
        assert exc.errors


@pytest.mark.parametrize("pasted", ["sk_car_SECRET-value-7f3a9", "hunter2hunter2", "sk-abc/def"])
def test_a_secret_pasted_where_its_file_belongs_is_never_echoed(pasted: str) -> None:
    (error,) = errors_of(f"[cartesia]\napi_key_file = '{pasted}'\n")
    assert pasted not in error
    assert error.startswith("cartesia.api_key_file (its value is not shown")
    (error,) = errors_of(f"[mqtt]\nusername = 'u'\npassword_file = '{pasted}'\n")
    assert pasted not in error
