#!/usr/bin/env bash
# Run promtool (Prometheus' rule checker) with these arguments, installing it first if needed:
#
#   bash deploy/prometheus/promtool.sh check rules deploy/prometheus/actionstream-rules.yaml
#   bash deploy/prometheus/promtool.sh test rules deploy/prometheus/actionstream-rules.test.yaml
#
# A promtool on PATH (or in $PROMTOOL) is used as it is. Otherwise Debian's `prometheus` package
# is fetched by name with apt-get and only its promtool is unpacked under .local/promtool/ (no
# Prometheus server is installed or started). tests/deploy/test_observability.py calls this.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${PROMTOOL_DIR:-$REPO_ROOT/.local/promtool}
LOCAL=$DEST/usr/bin/promtool

find_promtool() {
    if [[ -n ${PROMTOOL:-} ]]; then echo "$PROMTOOL"; return; fi
    if command -v promtool >/dev/null 2>&1; then command -v promtool; return; fi
    if [[ -x $LOCAL ]]; then echo "$LOCAL"; return; fi
    return 1
}

install_promtool() {
    command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
        echo "promtool.sh: no promtool on PATH and no apt-get here: install Prometheus' promtool" \
            "(it ships with every Prometheus release) or set PROMTOOL=/path/to/promtool" >&2
        exit 1
    }
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    # apt-get download writes to the current directory; a fresh machine needs its lists first.
    if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
        apt-get update -qq >/dev/null
        (cd "$work" && apt-get download prometheus >/dev/null)
    fi
    mkdir -p "$DEST"
    dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$DEST" ./usr/bin/promtool
}

tool=$(find_promtool) || { install_promtool; tool=$LOCAL; }
exec "$tool" "$@"
