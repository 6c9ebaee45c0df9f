#!/usr/bin/env bash
# The test command, the same for the README and .ci/run: every package (or
# the go test arguments given), no cached results, a 20-minute timeout, then
# one line naming the real peers that were missing and how many tests
# skipped for want of them (go test prints "ok" for a package whose tests
# all skipped). Exits with go test's status.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp "${TMPDIR:-/tmp}/promgate-test-peers.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
if [ $# -eq 0 ]; then
  set -- ./...
fi
PROMGATE_TEST_PEER_LOG="$log" go test -count=1 -timeout 20m "$@"
rc=$?
go run ./internal/testpeer/cmd/peersummary "$log"
exit $rc
