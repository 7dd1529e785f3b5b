#!/usr/bin/env bash
# Tools from Debian's packages that the deployment tests run (tests/deploy/tools.py):
# promtool, to check and unit-test the alert rules and the Prometheus configuration. It is
# unpacked from the `prometheus` package rather than installed, so that no Prometheus
# service starts on the machine (and takes port 9090). Needs root; idempotent.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
dest=${AMSS_TOOLS_DIR:-/opt/amss-ci}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

apt-get update -qq
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
mkdir -p "$dest"
dpkg-deb -x "$work"/prometheus_*.deb "$dest/prometheus"
ln -sf "$dest/prometheus/usr/bin/promtool" /usr/local/bin/promtool
promtool --version | head -n 1
