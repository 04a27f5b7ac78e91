#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs it from Debian's packages when
# dockerd is missing, and starts it when `docker info` does not answer.
set -euo pipefail

log=${SCAD_DOCKERD_LOG:-/var/log/scad-dockerd.log}

# iproute2: the engine-restart test gives a second dockerd a bridge of its own.
if ! command -v dockerd >/dev/null || ! command -v ip >/dev/null; then
    echo "engine: installing docker.io and iproute2"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io iproute2 >/dev/null
fi

if timeout 20 docker info >/dev/null 2>&1; then
    echo "engine: already running"
    exit 0
fi

# A dockerd that was killed leaves its pid file behind and the next one refuses
# to start; remove pid files whose process is gone (or a zombie).
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -e "/proc/$pid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [ -e "$pidfile" ] && ! alive "$pidfile"; then
        rm -f "$pidfile"
    fi
done

# dockerd outlives this script: it must not keep a file the caller holds open (a
# lock taken around CI would stay taken for as long as the engine runs).
start_dockerd() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ]; then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
    exec nohup dockerd >"$log" 2>&1
}

echo "engine: starting dockerd (log: $log)"
start_dockerd &

for _ in $(seq 1 60); do
    if timeout 10 docker info >/dev/null 2>&1; then
        echo "engine: ready"
        exit 0
    fi
    sleep 1
done
echo "engine: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
