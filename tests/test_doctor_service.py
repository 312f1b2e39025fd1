"""`herald doctor` reads what herald.service reads: the unit's config path and the
credentials its LoadCredential= lines load (issue 19.2/19.3).

The unit is this repository's own systemd/herald.service; the credential stores are
temporary folders laid out as install.sh lays out /etc/credstore. The "not root" case
runs doctor in a real process without root's rights.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from herald.cli.doctor import check_cartesia, check_service, run_doctor
from herald.cli.doctor_service import (
    ROOT_FIX,
    Unit,
    find_credential,
    load_like_service,
    parse_unit,
    read_unit,
)
from herald.config import ConfigError
from herald.secret import Secret
from mosquitto import free_port

REPO = Path(__file__).resolve().parent.parent
UNIT_FILE = REPO / "systemd" / "herald.service"
KEY = "sk_car_from_the_credstore"
ENV_KEY = "sk_car_from_the_environment"


def test_the_installed_unit_names_its_config_and_credentials() -> None:
    unit = parse_unit(UNIT_FILE.read_text(), str(UNIT_FILE))
    assert unit.credentials == {"cartesia_api_key": "", "mqtt_password": ""}
    assert unit.config == Path("/etc/herald/config.toml")
    assert unit.config_from == "ExecStart --config"
    assert unit.encrypted == ()


def test_drop_ins_override_and_reset(tmp_path: Path) -> None:
    unit_file = tmp_path / "herald.service"
    shutil.copy(UNIT_FILE, unit_file)
    dropins = tmp_path / "herald.service.d"
    dropins.mkdir()
    (dropins / "10-keys.conf").write_text(
        "[Service]\nLoadCredential=\nLoadCredential=cartesia_api_key:/srv/keys/cartesia.txt\n"
        "LoadCredentialEncrypted=mqtt_password\n"
    )
    (dropins / "20-config.conf").write_text(
        "[Service]\nExecStart=\nExecStart=/opt/herald/venv/bin/herald run\n"
        "Environment=HERALD_CONFIG=/srv/herald.toml\n"
    )
    unit = read_unit(systemctl=None, paths=[tmp_path / "missing.service", unit_file])
    assert unit is not None and unit.source == str(unit_file)
    assert unit.credentials == {"cartesia_api_key": "/srv/keys/cartesia.txt"}
    assert unit.encrypted == ("mqtt_password",)
    assert unit.config == Path("/srv/herald.toml")
    assert unit.config_from == "Environment=HERALD_CONFIG"
    assert read_unit(systemctl=None, paths=[tmp_path / "missing.service"]) is None


def test_systemctl_cat_is_asked_first(tmp_path: Path) -> None:
    # A stand-in for systemctl that prints what `systemctl cat herald.service` prints.
    script = tmp_path / "systemctl"
    script.write_text(
        f"#!/bin/sh\necho '# {UNIT_FILE}'\ncat '{UNIT_FILE}'\n"
        "echo '# /etc/systemd/system/herald.service.d/override.conf'\n"
        "printf '[Service]\\nExecStart=\\nExecStart=/opt/herald/venv/bin/herald run "
        "--config=/srv/h.toml\\n'\n"
    )
    script.chmod(0o755)
    unit = read_unit(systemctl=[str(script), "cat", "--no-pager", "herald.service"], paths=[])
    assert unit is not None
    assert unit.source == f"{script} cat herald.service"
    assert unit.config == Path("/srv/h.toml")
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 'System has not been booted with systemd' >&2\nexit 1\n")
    failing.chmod(0o755)
    unit = read_unit(systemctl=[str(failing), "cat", "herald.service"], paths=[UNIT_FILE])
    assert unit is not None and unit.source == str(UNIT_FILE)  # fell back to the file


def credstore(root: Path, **secrets: str) -> list[Path]:
    """/etc/credstore as install.sh makes it: links to /etc/herald/credentials."""
    etc, real = root / "etc-credstore", root / "herald-credentials"
    for folder in (etc, real):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    for name, value in secrets.items():
        (real / name).write_text(value + "\n")
        (real / name).chmod(0o600)
        (etc / name).symlink_to(real / name)
    return [etc, root / "run-credstore"]


def unit_for(config: Path) -> Unit:
    text = UNIT_FILE.read_text().replace("/etc/herald/config.toml", str(config))
    return parse_unit(text, "systemctl cat herald.service")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('[device]\nid = "kitchen"\n[mqtt]\nusername = "herald"\n')
    return path


def test_the_service_credentials_and_config_are_used(tmp_path: Path, config: Path) -> None:
    stores = credstore(tmp_path, cartesia_api_key=KEY, mqtt_password="pw-canary-1234")
    env = {"CARTESIA_API_KEY": ENV_KEY}  # the unit's credential wins, as in the service
    setup = load_like_service(None, env, unit=lambda: unit_for(config), credstore=stores)
    assert setup.config_path == config
    assert setup.config_from == "herald.service ExecStart --config"
    assert setup.cfg.device.id == "kitchen"
    assert setup.cfg.cartesia_api_key == Secret(KEY)
    assert setup.cfg.mqtt_password == Secret("pw-canary-1234")
    key_file = stores[0] / "cartesia_api_key"
    origin = f"credential cartesia_api_key of herald.service ({key_file})"
    assert setup.origins["cartesia_api_key"] == origin
    line = check_service(setup)
    assert line.status == "ok"
    assert line.detail == (
        f"herald.service (systemctl cat herald.service): config {config} (herald.service "
        f"ExecStart --config); credentials cartesia_api_key: {key_file}; "
        f"mqtt_password: {stores[0] / 'mqtt_password'}"
    )
    assert KEY not in line.line() and "pw-canary" not in line.line()


def test_a_missing_credential_is_skipped_as_systemd_does(tmp_path: Path, config: Path) -> None:
    stores = credstore(tmp_path, mqtt_password="pw")
    env = {"CARTESIA_API_KEY": ENV_KEY}
    setup = load_like_service(None, env, unit=lambda: unit_for(config), credstore=stores)
    assert setup.cfg.cartesia_api_key == Secret(ENV_KEY)  # the environment, as herald would
    assert setup.origins["cartesia_api_key"] == "$CARTESIA_API_KEY"
    assert "cartesia_api_key: not found (systemd skips it)" in check_service(setup).detail


def test_given_choices_win_over_the_unit(tmp_path: Path, config: Path) -> None:
    stores = credstore(tmp_path, cartesia_api_key=KEY)
    other = tmp_path / "other.toml"
    key_file = tmp_path / "key.txt"
    key_file.write_text("sk_car_named_in_the_config\n")
    other.write_text(f'[device]\nid = "hall"\n[cartesia]\napi_key_file = "{key_file}"\n')

    def unit() -> Unit:
        return unit_for(config)

    setup = load_like_service(other, {}, unit=unit, credstore=stores)
    assert (setup.cfg.device.id, setup.config_from) == ("hall", "--config")
    assert setup.cfg.cartesia_api_key == Secret("sk_car_named_in_the_config")
    assert setup.origins["cartesia_api_key"] == f"cartesia.api_key_file = {key_file}"

    setup = load_like_service(None, {"HERALD_CONFIG": str(other)}, unit=unit, credstore=stores)
    assert setup.config_from == "$HERALD_CONFIG"

    own = tmp_path / "own-credentials"
    own.mkdir()
    (own / "cartesia_api_key").write_text("sk_car_own_dir\n")
    setup = load_like_service(
        None, {"CREDENTIALS_DIRECTORY": str(own)}, unit=unit, credstore=stores
    )
    assert setup.cfg.cartesia_api_key == Secret("sk_car_own_dir")
    assert setup.origins["cartesia_api_key"] == "$CREDENTIALS_DIRECTORY/cartesia_api_key"
    assert "from $CREDENTIALS_DIRECTORY (as given)" in check_service(setup).detail

    setup = load_like_service(None, {}, unit=lambda: None, credstore=stores)
    assert setup.config_from == "the default"
    assert check_service(setup).status == "skip"


async def test_an_encrypted_key_is_said_to_be_unchecked(tmp_path: Path, config: Path) -> None:
    text = UNIT_FILE.read_text().replace("/etc/herald/config.toml", str(config))
    text = text.replace(
        "LoadCredential=cartesia_api_key", "LoadCredentialEncrypted=cartesia_api_key"
    )
    unit = parse_unit(text, "systemctl cat herald.service")
    setup = load_like_service(None, {}, unit=lambda: unit, credstore=credstore(tmp_path))
    assert "cartesia_api_key: encrypted, not checked" in check_service(setup).detail
    line = await check_cartesia(setup.cfg, setup=setup)
    assert line.line() == (
        "skip  cartesia  the API key is an encrypted credential (LoadCredentialEncrypted=): "
        "only the service can decrypt it, so doctor cannot check it"
    )


def test_an_absolute_credential_path_is_read_as_given(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "cartesia.txt"
    key.parent.mkdir()
    key.write_text(KEY)
    assert find_credential("cartesia_api_key", str(key), []).path == key
    assert find_credential("cartesia_api_key", str(tmp_path / "nope"), []).path is None


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is root's own when root)."""
    path = Path(tempfile.mkdtemp(prefix="herald-doctor-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(stat.S_IRWXU)
        shutil.rmtree(path)


def _others_can_run(path: Path) -> bool:
    real = path.resolve()
    folders_ok = all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    return folders_ok and bool(real.stat().st_mode & stat.S_IXOTH)


def unprivileged() -> tuple[str, dict[str, str], dict[str, object]]:
    """(python, environment, process options) to run herald code as nobody when root,
    as this user otherwise. The interpreter must be one nobody may run: this Python, or
    the system's of the same version with this one's packages on the path."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "daemon")}
    if os.geteuid() != 0:
        return sys.executable, env, {}
    python = sys.executable
    if not _others_can_run(Path(python)):
        system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
        if not system.exists() or not _others_can_run(system):
            pytest.skip("no Python interpreter that nobody may run")
        python = str(system)
        packages = [p for p in sys.path if p.endswith("site-packages")]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "daemon"), *packages])
    return python, env, {"user": 65534, "group": 65534, "extra_groups": []}


NOT_ROOT = """
import sys
from pathlib import Path
import trio
from herald.cli.doctor import check_cartesia, check_service
from herald.cli.doctor_service import load_like_service, parse_unit

unit = parse_unit(Path(sys.argv[1]).read_text(), "systemctl cat herald.service")
setup = load_like_service(None, {}, unit=lambda: unit, credstore=[Path(sys.argv[2])])
print(check_service(setup).line())
print(trio.run(lambda: check_cartesia(setup.cfg, setup=setup)).line())
"""


async def test_not_root_is_told_to_run_as_root(shared_dir: Path) -> None:
    config = shared_dir / "config.toml"
    config.write_text('[device]\nid = "kitchen"\n')
    config.chmod(0o644)
    unit_file = shared_dir / "herald.service"
    unit_file.write_text(UNIT_FILE.read_text().replace("/etc/herald/config.toml", str(config)))
    unit_file.chmod(0o644)
    stores = credstore(shared_dir, cartesia_api_key=KEY)
    python, env, options = unprivileged()  # as `herald doctor` without sudo runs
    if not options:
        stores[0].chmod(0)
    result = await trio.run_process(
        [python, "-c", NOT_ROOT, str(unit_file), str(stores[0])],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
        **options,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    service, cartesia = out.splitlines()
    assert service.startswith("FAIL  service   cannot read the credentials herald.service loads:")
    assert f"{stores[0] / 'cartesia_api_key'}: permission denied" in service
    assert service.endswith(f"; fix: {ROOT_FIX}")
    assert cartesia.startswith("FAIL  cartesia  cannot read the API key herald.service loads")
    assert cartesia.endswith("; fix: run as root: sudo herald doctor")
    assert KEY not in out


async def test_not_root_and_the_config_is_unreadable(shared_dir: Path) -> None:
    config = shared_dir / "config.toml"
    config.write_text('[device]\nid = "kitchen"\n')
    config.chmod(0o600 if os.geteuid() == 0 else 0)
    code = (
        "import sys; from pathlib import Path; from herald.cli.doctor_service import "
        "load_like_service\ntry:\n    load_like_service(Path(sys.argv[1]), {}, unit=lambda: None)\n"
        "except Exception as exc:\n    print(exc)"
    )
    python, env, options = unprivileged()
    result = await trio.run_process(
        [python, "-c", code, str(config)], capture_stdout=True, env=env, **options
    )
    out = result.stdout.decode()
    assert "cannot read config file: Permission denied" in out
    assert out.rstrip().endswith(f"{config}: {ROOT_FIX}")


def test_as_root_a_config_error_is_left_alone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_like_service(tmp_path / "missing.toml", {}, unit=lambda: None)
    assert raised.value.errors == ["config file not found"]


async def test_the_command_line_runs_it(tmp_path: Path, config: Path) -> None:
    if Path("/etc/systemd/system/herald.service").exists():
        pytest.skip("herald is installed on this machine")
    config.write_text(
        config.read_text()
        + f'[audio]\ndevice = "file:FILE={tmp_path / "o.raw"},FORMAT=raw"\n'
        + f'[cache]\ndir = "{tmp_path}"\n'
    )
    result = await trio.run_process(
        [sys.executable, "-m", "herald", "doctor", "--config", str(config)],
        capture_stdout=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "daemon"), "CARTESIA_API_KEY": ""},
        stderr=subprocess.DEVNULL,
    )
    lines = result.stdout.decode().splitlines()
    assert lines[0] == (
        f"skip  service   herald.service is not installed: config {config} (--config); "
        "secrets from the config and this shell"
    )
    assert result.returncode == 1  # no broker on the default port, no key


async def test_run_doctor_prints_the_service_line_first(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: the broker and Cartesia fail at once
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "kitchen"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[cartesia]\napi_url = "http://127.0.0.1:{port}"\n'
        f'[audio]\ndevice = "file:FILE={tmp_path / "o.raw"},FORMAT=raw"\n'
        f'[cache]\ndir = "{tmp_path}"\n'
    )
    stores = credstore(tmp_path, cartesia_api_key=KEY)
    setup = load_like_service(None, {}, unit=lambda: unit_for(config), credstore=stores)
    out = io.StringIO()
    assert await run_doctor(setup.cfg, out, setup=setup) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ok    service   herald.service (systemctl cat herald.service)")
    assert lines[1].startswith("ok    config    device.id = kitchen")
    cartesia = next(line for line in lines if line.startswith("FAIL  cartesia"))
    assert "cannot check the key" in cartesia  # the key was found, and tried
    assert KEY not in out.getvalue()
