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

from repo import REPO

INSTALL = REPO / "install.sh"

Listing = dict[str, tuple[str, str]]  # relative path -> (mode, content digest or link target)


def run_install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    for name in (
        "HERALD_BROKER",
        "HERALD_API_KEY_FILE",
        "HERALD_MQTT_PASSWORD_FILE",
        "HERALD_AUDIO_DEVICE",
        "HERALD_ARCH",
        "HERALD_OS_RELEASE",
        "HERALD_ASOUND_CARDS",
    ):
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


def apt_packages(stdout: str) -> set[str]:
    line = stdout.split("would run: apt-get install -y --no-install-recommends ", 1)[1]
    return set(line.splitlines()[0].split())


def os_release(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "os-release"
    path.write_text(text)
    return {"HERALD_OS_RELEASE": str(path)}


DEBIAN_13 = 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'
PI_OS_32_TRIXIE = 'ID=raspbian\nID_LIKE=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n'


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
        "max_queued_messages 10080",
        "max_queued_bytes 41287680",
    ):
        assert line in snippet
    command = root / "usr/local/bin/herald"
    assert mode(command) == 0o755
    assert "exec /opt/herald/venv/bin/herald" in command.read_text()
    # Staged: the system changes are listed, not made.
    apt = apt_packages(result.stdout)
    assert {"mosquitto", "mosquitto-clients", "python3-venv", "libasound2-dev"} <= apt
    assert "would run: useradd --system" in result.stdout
    assert "would run: systemctl enable --quiet herald.service" in result.stdout
    assert "would run: systemctl restart herald.service" in result.stdout
    assert not (root / "opt/herald/venv").exists()


def test_broker_flag_on_first_install_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = run_install("--root", str(root), env={"HERALD_BROKER": "mqtt.lan:8883"})
    assert result.returncode == 0, result.stderr
    config = (root / "etc/herald/config.toml").read_text()
    assert 'host = "mqtt.lan"' in config
    assert "port = 8883" in config
    assert not (root / "etc/mosquitto").exists()  # a broker was given: no local one
    assert "mosquitto" not in apt_packages(result.stdout)
    assert "mosquitto.service" not in result.stdout
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
    # Only directories every system has.
    assert left <= {"etc", "etc/systemd", "etc/systemd/system", "opt"} | {
        "usr",
        "usr/local",
        "usr/local/bin",
    }
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
    """install.sh and every script of scripts/ (the system test, the VM, the chroot)."""
    scripts = [INSTALL, REPO / ".ci/run", *sorted((REPO / "scripts").rglob("*.sh"))]
    assert len(scripts) >= 8
    result = subprocess.run(
        ["shellcheck", "-x", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("release", "arch"),
    [
        ('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "amd64"),
        (DEBIAN_13, "amd64"),
        (DEBIAN_13, "arm64"),  # Raspberry Pi OS 64-bit says ID=debian
        ('ID=raspbian\nID_LIKE=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "armhf"),
        (PI_OS_32_TRIXIE, "armhf"),
    ],
)
def test_supported_systems_need_no_force(tmp_path: Path, release: str, arch: str) -> None:
    env = {**os_release(tmp_path, release), "HERALD_ARCH": arch}
    result = run_install("--root", str(tmp_path / "root"), env=env)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_unsupported_arch_refused_unless_forced(tmp_path: Path) -> None:
    env = {**os_release(tmp_path, DEBIAN_13), "HERALD_ARCH": "i386"}
    refused = run_install("--root", str(tmp_path / "root"), env=env)
    assert refused.returncode != 0
    assert "i386" in refused.stderr and "--force" in refused.stderr
    assert run_install("--root", str(tmp_path / "root"), "--force", env=env).returncode == 0


def test_local_voice_where_onnxruntime_has_a_wheel(tmp_path: Path) -> None:
    env = {**os_release(tmp_path, DEBIAN_13), "HERALD_ARCH": "arm64"}
    result = run_install("--root", str(tmp_path / "root"), env=env)
    assert result.returncode == 0, result.stderr
    assert f"pip install {REPO}[piper]" in result.stdout
    assert "cmake" not in apt_packages(result.stdout)
    config = (tmp_path / "root/etc/herald/config.toml").read_text()
    assert 'local_voice = "piper"' in config


def test_no_local_voice_on_32_bit(tmp_path: Path) -> None:
    env = {**os_release(tmp_path, PI_OS_32_TRIXIE), "HERALD_ARCH": "armhf"}
    result = run_install("--root", str(tmp_path / "root"), env=env)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "local voice" in line]
    assert len(notes) == 1 and "armhf" in notes[0] and "onnxruntime" in notes[0], notes
    assert f"pip install {REPO}\n" in result.stdout  # no [piper] extra
    # What pip must compile there (msgspec, soxr, pyalsaaudio) gets its tools.
    assert {"gcc", "g++", "cmake", "ninja-build", "python3-dev", "libasound2-dev"} <= apt_packages(
        result.stdout
    )
    # numpy (under soxr) from Debian: compiling it would take an hour on a Pi Zero 2 W.
    assert "python3-numpy" in apt_packages(result.stdout)
    assert "--system-site-packages" in result.stdout
    config = (tmp_path / "root/etc/herald/config.toml").read_text()
    assert 'local_voice = "none"' in config


def test_audio_device_on_first_install(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = run_install("--root", str(root), "--audio-device", "plughw:CARD=Headphones,DEV=0")
    assert result.returncode == 0, result.stderr
    config = (root / "etc/herald/config.toml").read_text()
    assert 'device = "plughw:CARD=Headphones,DEV=0"' in config
    assert config.count("plughw:CARD=Headphones,DEV=0") == 1
    again = run_install("--root", str(root), "--audio-device", "hw:1")
    assert again.returncode == 0, again.stderr
    assert (root / "etc/herald/config.toml").read_text() == config
    assert 'device = "hw:1"' in again.stderr and "kept" in again.stderr


def test_bad_audio_device_refused(tmp_path: Path) -> None:
    result = run_install("--root", str(tmp_path / "root"), "--audio-device", 'x" ; rm -rf /')
    assert result.returncode != 0
    assert "not an ALSA PCM name" in result.stderr
    assert not (tmp_path / "root/etc").exists()


CARDS_ONE = """ 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
"""
CARDS_TWO = (
    CARDS_ONE
    + """ 1 [Device         ]: USB-Audio - USB Audio Device
                      GeneralPlus USB Audio Device at usb-0000:01:00.0-1.2, full speed
"""
)


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        (CARDS_ONE, "one sound card, Headphones (bcm2835_headpho - bcm2835 Headphones): "),
        (CARDS_TWO, "2 sound cards"),
        ("--- no soundcards ---\n", "no sound card found"),
    ],
)
def test_sound_card_suggestion(tmp_path: Path, cards: str, expected: str) -> None:
    cards_file = tmp_path / "cards"
    cards_file.write_text(cards)
    env = {"HERALD_ASOUND_CARDS": str(cards_file)}
    result = run_install("--root", str(tmp_path / "root"), env=env)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "sound card" in line]
    assert len(notes) == 1 and expected in notes[0], notes
    if cards == CARDS_ONE:
        assert '[audio] device = "plughw:CARD=Headphones"' in notes[0]
    # Once a device is named, nothing is suggested.
    named = run_install("--root", str(tmp_path / "other"), "--audio-device", "hw:0", env=env).stdout
    assert "sound card" not in named


def test_pipewire_default_is_named(tmp_path: Path) -> None:
    root = tmp_path / "root"
    conf = root / "etc/alsa/conf.d/99-pipewire-default.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("pcm.!default { type pipewire }\n")
    result = run_install("--root", str(root))
    assert result.returncode == 0, result.stderr
    assert 'ALSA "default" is PipeWire here' in result.stdout


def test_rerun_restarts_nothing_unchanged(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    first = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert "would run: systemctl restart herald.service" in first.stdout
    assert "would run: systemctl restart mosquitto.service" in first.stdout
    assert "would run: systemctl daemon-reload" in first.stdout
    second = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert second.returncode == 0, second.stderr
    assert "systemctl restart" not in second.stdout
    assert "daemon-reload" not in second.stdout
    assert "would run: systemctl start herald.service" in second.stdout  # if it is stopped
    # A new key is a change the service must see.
    key_file.write_text("sk_car_other\n")
    third = run_install("--root", str(root), "--api-key-file", str(key_file))
    assert "would run: systemctl restart herald.service" in third.stdout
    assert "restart mosquitto" not in third.stdout


def test_uninstall_keeps_a_credstore_it_did_not_make(tmp_path: Path) -> None:
    """trixie's systemd package ships /etc/credstore: never remove it."""
    root = tmp_path / "root"
    (root / "etc/credstore").mkdir(parents=True)
    assert run_install("--root", str(root)).returncode == 0
    result = run_install("--root", str(root), "--uninstall", "--purge")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/credstore").is_dir()
    assert list((root / "etc/credstore").iterdir()) == []
    assert not (root / "usr/local/bin/herald").exists()
    assert not (root / "opt/herald").exists()


def test_herald_command_gets_the_services_credentials(tmp_path: Path, key_file: Path) -> None:
    """/usr/local/bin/herald hands the venv's herald the credentials directory the unit
    gets, when the caller can read it (root), and nothing otherwise."""
    root = tmp_path / "root"
    assert run_install("--root", str(root), "--api-key-file", str(key_file)).returncode == 0
    fake = root / "opt/herald/venv/bin/herald"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "CREDENTIALS_DIRECTORY=${CREDENTIALS_DIRECTORY:-unset} $*"\n')
    fake.chmod(0o755)
    # The script as placed, its two absolute paths pointed into the staged root.
    script = (root / "usr/local/bin/herald").read_text()
    staged = tmp_path / "herald"
    staged.write_text(
        script.replace("/etc/herald", f"{root}/etc/herald").replace(
            "/opt/herald", f"{root}/opt/herald"
        )
    )

    def herald(env: dict[str, str]) -> str:
        return subprocess.run(
            ["sh", str(staged), "doctor", "--config", "x y"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        ).stdout.strip()

    base = {"PATH": os.environ["PATH"]}
    assert (
        herald(base) == f"CREDENTIALS_DIRECTORY={root}/etc/herald/credentials doctor --config x y"
    )
    assert herald({**base, "CREDENTIALS_DIRECTORY": "/run/x"}) == (
        "CREDENTIALS_DIRECTORY=/run/x doctor --config x y"
    )
    # No credentials directory it can use (for a user: not readable; here: absent).
    (root / "etc/herald/credentials/cartesia_api_key").unlink()
    (root / "etc/herald/credentials").rmdir()
    assert herald(base) == "CREDENTIALS_DIRECTORY=unset doctor --config x y"
