#!/usr/bin/env bash
# Tools from Debian's packages that tests run: promtool, to check and unit-test the alert
# rules and the Prometheus configuration (tests/deploy/tools.py), and pdftoppm, to render
# the status-record PDF to an image (tests/reports). promtool is unpacked from the
# `prometheus` package rather than installed, so that no Prometheus service starts on the
# machine (and takes port 9090). Needs root; idempotent.
set -euo pipefail

updated=
apt_update() {
    if [ -z "$updated" ]; then apt-get update -qq; updated=1; fi
}

if ! command -v pdftoppm >/dev/null 2>&1; then
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi
pdftoppm -v 2>&1 | head -n 1 || true  # -v exits 99

if ! command -v promtool >/dev/null 2>&1; then
    dest=${AMSS_TOOLS_DIR:-/opt/amss-ci}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    apt_update
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root prometheus)
    mkdir -p "$dest"
    dpkg-deb -x "$work"/prometheus_*.deb "$dest/prometheus"
    ln -sf "$dest/prometheus/usr/bin/promtool" /usr/local/bin/promtool
fi
promtool --version | head -n 1
