#!/usr/bin/env bash
# Builds (once, then reuses) the real Ory Hydra 2.3.0, the OpenID provider the
# OpenID Connect tests of issue 16 sign in against, and prints
#   export PROMGATE_TEST_HYDRA_BIN=...
# for a caller to eval (.ci/run does). Build output goes to stderr.
#
# `go install`/`go get -tool` build Hydra outside its own module, which
# ignores its go.mod replaces and fails; so this builds inside a writable copy
# of the module. The replace of hydra-client-go points at a nested module that
# the module zip lacks, so it is dropped and the published version it requires
# is downloaded, which adds its go.sum entries without changing go.mod. The
# sqlite tags make DSN=memory work (cgo, needs gcc).
set -euo pipefail
want=2.3.0
dir="${PROMGATE_CI_CACHE:-$HOME/.cache/promgate-ci}/bin"
bin="$dir/hydra"
# The version is stamped in with -ldflags, so `hydra version` shows it. Its
# output is captured before grep: with pipefail, `grep -q` quitting at the
# first line can make hydra die of SIGPIPE and fail the check at random.
have="$([ -x "$bin" ] && "$bin" version 2>/dev/null || true)"
if ! grep -Eq "^Version: +v$want\$" <<<"$have"; then
  mkdir -p "$dir"
  echo "building Ory Hydra $want into $dir (a few minutes cold)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # A neutral directory keeps any go.mod or GOFLAGS of the repo out of it.
  src="$(cd "$work" && go mod download -json "github.com/ory/hydra/v2@v$want" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    echo "hydra.sh: go mod download gave no module folder for Hydra v$want" >&2
    exit 1
  fi
  cp -r "$src" "$work/hydra"
  chmod -R u+w "$work/hydra"
  (cd "$work/hydra" &&
    go mod edit -dropreplace github.com/ory/hydra-client-go/v2 &&
    go mod download github.com/ory/hydra-client-go/v2 &&
    CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension \
      -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=v$want" \
      -o "$bin.tmp" . &&
    mv "$bin.tmp" "$bin") >&2
fi
echo "export PROMGATE_TEST_HYDRA_BIN=$bin"
