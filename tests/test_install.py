"""install.sh, staged into a temporary root with --root (no apt, useradd, systemctl or
venv build: those are only listed)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"

Listing = dict[str, tuple[str, str]]  # relative path -> (mode, content digest or link target)


def run_install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    for name in ("HERALD_BROKER", "HERALD_API_KEY_FILE", "HERALD_MQTT_PASSWORD_FILE"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        ["bash", str(INSTALL), *args],
        capture_output=True,
        text=True,
        env=full_env,
        stdin=subprocess.DEVNULL,  # never prompts
        timeout=60,
        check=False,
    )


def listing(root: Path) -> Listing:
    """Every path under root with its mode and its content (or link target)."""
    result: Listing = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            mode = stat.filemode(st.st_mode)
            if path.is_symlink():
                result[str(path.relative_to(root))] = (mode, os.readlink(path))
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[str(path.relative_to(root))] = (mode, digest)
            else:
                result[str(path.relative_to(root))] = (mode, "")
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text("sk_car_canary\n")
    return path


def test_install_twice_is_idempotent(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    first = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert first.returncode == 0, first.stderr
    before = listing(root)
    second = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert second.returncode == 0, second.stderr
    assert listing(root) == before
    assert "placed" not in second.stdout


def test_install_places_files(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    result = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert result.returncode == 0, result.stderr
    etc = root / "etc/herald"
    assert mode(etc) == 0o750
    config = etc / "config.toml"
    assert mode(config) == 0o640
    assert config.read_text() == (REPO / "config/herald.toml").read_text()
    key = etc / "credentials/cartesia_api_key"
    assert mode(etc / "credentials") == 0o700
    assert mode(key) == 0o600
    assert key.read_text() == "sk_car_canary\n"
    for name in ("cartesia_api_key", "mqtt_password"):
        link = root / "etc/credstore" / name
        assert os.readlink(link) == f"/etc/herald/credentials/{name}"
    unit = root / "etc/systemd/system/herald.service"
    assert unit.read_bytes() == (REPO / "systemd/herald.service").read_bytes()
    assert mode(unit) == 0o644
    snippet = (root / "etc/mosquitto/conf.d/herald.conf").read_text().splitlines()
    for line in (
        "persistence true",
        "autosave_on_changes true",
        "autosave_interval 1",
        "listener 1883 127.0.0.1",
    ):
        assert line in snippet
    # Staged: the system changes are listed, not made.
    assert "would run: apt-get install" in result.stdout
    assert "mosquitto" in result.stdout.split("would run: apt-get install", 1)[1].splitlines()[0]
    assert "would run: useradd --system" in result.stdout
    assert "would run: systemctl enable --now herald.service" in result.stdout
    assert not (root / "opt/herald/venv").exists()


def test_broker_flag_on_first_install_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = run_install("--root", str(root), env={"HERALD_BROKER": "mqtt.lan:8883"})
    assert result.returncode == 0, result.stderr
    config = (root / "etc/herald/config.toml").read_text()
    assert 'host = "mqtt.lan"' in config
    assert "port = 8883" in config
    assert not (root / "etc/mosquitto").exists()  # a broker was given: no local one
    assert "mosquitto" not in result.stdout
    # A later run with another broker keeps the config, and says so.
    again = run_install("--root", str(root), "--broker", "other:1883")
    assert again.returncode == 0, again.stderr
    assert (root / "etc/herald/config.toml").read_text() == config
    assert "kept" in again.stderr
    # Nor does a run without --broker add a local broker to a remote-broker install.
    plain = run_install("--root", str(root))
    assert plain.returncode == 0, plain.stderr
    assert not (root / "etc/mosquitto").exists()


def test_bad_broker_is_refused(tmp_path: Path) -> None:
    result = run_install("--root", str(tmp_path / "root"), "--broker", "host:99999")
    assert result.returncode != 0
    assert "port must be 1-65535" in result.stderr


def test_other_os_refused_unless_forced(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('ID=fedora\nVERSION_ID="40"\n')
    env = {"HERALD_OS_RELEASE": str(os_release)}
    refused = run_install("--root", str(tmp_path / "root"), env=env)
    assert refused.returncode != 0
    assert "Debian 12" in refused.stderr and "--force" in refused.stderr
    assert not (tmp_path / "root/etc").exists()
    forced = run_install("--root", str(tmp_path / "root"), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "root/etc/herald/config.toml").exists()


def test_raspberry_pi_os_accepted(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(
        'ID=raspbian\nID_LIKE=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
    )
    result = run_install(
        "--root", str(tmp_path / "root"), env={"HERALD_OS_RELEASE": str(os_release)}
    )
    assert result.returncode == 0, result.stderr


def test_uninstall_removes_what_it_placed(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    assert run_install("--root", str(root), "--api-key-file", str(key_file)).returncode == 0
    # Something that is not ours stays.
    foreign = root / "etc/mosquitto/conf.d/other.conf"
    foreign.write_text("listener 8883\n")
    result = run_install("--root", str(root), "--uninstall")
    assert result.returncode == 0, result.stderr
    left = {p for p in listing(root) if not p.startswith(("etc/herald", "etc/mosquitto"))}
    assert not (root / "etc/systemd/system/herald.service").exists()
    assert not (root / "etc/mosquitto/conf.d/herald.conf").exists()
    assert foreign.exists()
    assert not (root / "etc/credstore").exists()
    assert left <= {"etc", "etc/systemd", "etc/systemd/system"}
    # The config and credentials are kept without --purge ...
    assert (root / "etc/herald/config.toml").exists()
    assert (root / "etc/herald/credentials/cartesia_api_key").exists()
    assert "would run: userdel herald" in result.stdout
    # Stopped first, then taken out of Home Assistant.
    out = result.stdout
    assert out.index("would run: systemctl disable --now herald.service") < out.index(
        "would run: herald discovery remove"
    )
    # ... and removed with it.
    purged = run_install("--root", str(root), "--uninstall", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not (root / "etc/herald").exists()


def test_reinstall_after_uninstall_keeps_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert run_install("--root", str(root), "--broker", "a.lan").returncode == 0
    assert run_install("--root", str(root), "--uninstall").returncode == 0
    assert run_install("--root", str(root), "--broker", "b.lan").returncode == 0
    assert 'host = "a.lan"' in (root / "etc/herald/config.toml").read_text()


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck() -> None:
    result = subprocess.run(
        ["shellcheck", str(INSTALL)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
