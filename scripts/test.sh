#!/usr/bin/env bash
# Runs the whole test suite.  Installs what the tests need first: Debian's
# postfix package for the compatibility tests (as root, when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v postconf >/dev/null 2>&1 || [ ! -x /usr/lib/postfix/sbin/master ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing Debian's postfix for the compatibility tests"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
    else
        echo "test.sh: postfix is not installed and cannot be installed here (need root and apt-get);" \
             "compatibility tests will skip unless POSTKIT_REQUIRE_POSTFIX=1" >&2
    fi
fi

cargo build --all-targets
cargo test "$@"

# Each fuzz target for a short, bounded time (a long run: see README).
./scripts/fuzz.sh 20
