#!/usr/bin/env bash
# Runs the test suite's executables (already built by test.sh) once as an
# ordinary user (nobody), as a contributor without root would: everything
# that does not need root must pass, and every test that needs root must
# say so: the names it skips must be exactly the root-only tests, which call
# needs_root("NAME") (or compat.rs's ready("NAME")) with their own name, and
# those that run cargo (needs_cargo_deb("NAME"), needs_own_cargo("NAME")):
# the toolchain is root's.
set -euo pipefail
cd "$(dirname "$0")/.."

user_ids=(--reuid=65534 --regid=65534 --clear-groups)

# nobody must reach the checkout: directories above it that it cannot
# search get o+x (search, not read) for the run, and back afterwards.
changed=()
restore() { for d in "${changed[@]}"; do chmod o-x "$d"; done; }
trap restore EXIT
d=$(pwd)
while [ "$d" != / ]; do
    if ! setpriv "${user_ids[@]}" test -x "$d"; then
        chmod o+x "$d"
        changed+=("$d")
        echo "test-unprivileged.sh: $d made searchable for the run"
    fi
    d=$(dirname "$d")
done

bins=$(cargo test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
')
skips=$(mktemp)
chmod 666 "$skips"
failed=0
for bin in $bins; do
    echo "test-unprivileged.sh: $(basename "$bin") as nobody"
    if ! setpriv "${user_ids[@]}" env -u POSTKIT_REQUIRE_POSTFIX HOME=/tmp \
        POSTKIT_SKIP_LOG="$skips" "$bin" -q; then
        failed=1
    fi
done

expected=$(grep -ho 'needs_root("[a-z0-9_]*")\|ready("[a-z0-9_]*")\|needs_cargo_deb("[a-z0-9_]*")\|needs_own_cargo("[a-z0-9_]*")' tests/*.rs \
    | sed 's/.*("\(.*\)")/\1/' | sort -u)
skipped=$(cut -d: -f1 "$skips" | sort -u)
echo "test-unprivileged.sh: $(echo "$skipped" | grep -c . || true) tests skipped as nobody (need root):"
sed 's/^/  /' "$skips"
if [ "$expected" != "$skipped" ]; then
    echo "test-unprivileged.sh: the skipped tests are not the root-only tests:" >&2
    diff <(echo "$expected") <(echo "$skipped") >&2 || true
    failed=1
fi
rm -f "$skips"
exit "$failed"
