#!/usr/bin/env bash
# Runs the whole test suite.  Installs what the tests need first: Debian's
# postfix package for the compatibility tests (as root, when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's packages the tests use: postfix (compatibility), the Prometheus
# client's parser (status --prometheus), systemd-socket-activate (systemd).
need=()
# By path: /usr/sbin is not on every user's PATH.
if [ ! -x /usr/sbin/postconf ] || [ ! -x /usr/lib/postfix/sbin/master ]; then
    need+=(postfix)
fi
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client)
command -v systemd-socket-activate >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing Debian's ${need[*]} for the tests"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    else
        echo "test.sh: ${need[*]} missing and cannot be installed here (need root and apt-get);" \
             "the tests that need them skip unless POSTKIT_REQUIRE_POSTFIX=1" >&2
    fi
fi
# cargo-deb builds the Debian package the packaging test installs.
if ! cargo deb --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-deb for the packaging test"
    cargo install --locked --quiet cargo-deb@^3
fi

cargo build --all-targets
# Tests that cannot run here (no root, no Postfix) name themselves in this
# file; libtest itself would count them as passed.
skips=$(mktemp)
export POSTKIT_SKIP_LOG="$skips"
cargo test "$@"
unset POSTKIT_SKIP_LOG
if [ -s "$skips" ]; then
    echo "test.sh: $(sort -u "$skips" | wc -l) tests did not run here (skipped):"
    sort -u "$skips" | sed 's/^/  /'
fi
rm -f "$skips"

# As root (CI), once more as an ordinary user: what does not need root
# passes without it, and what needs root is reported as skipped, by name.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    ./scripts/test-unprivileged.sh
fi

# Each fuzz target for a short, bounded time (a long run: see README).
./scripts/fuzz.sh 20
