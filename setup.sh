#!/usr/bin/env bash
# Everything scad needs on a Debian-like machine, as root: a Docker engine
# (installed and started when none answers), the base image (made locally when no
# registry has it), git, tmux and npm, and scad itself in .venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

.ci/engine.sh
.ci/base-image.sh python:3.11-slim

# git makes the repos, tmux is the terminal that attaches to sessions, npm
# installs the real Claude Code for the tests and ccusage for `project status --cost`.
# The test swarm's workers run under tini, reach its registry (docker-registry)
# through iptables, and live in namespaces made with util-linux's nsenter/unshare.
# The web view's browser tests drive Debian's chromium through its chromedriver.
# Each entry is command:package (the package that brings the command).
missing=()
for entry in git:git tmux:tmux npm:npm tini:tini docker-registry:docker-registry \
    iptables:iptables chromium:chromium chromedriver:chromium-driver; do
    command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'
echo "setup: done; try .venv/bin/scad demo"
