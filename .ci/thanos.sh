#!/usr/bin/env bash
# Builds (once, then reuses) the real Thanos 0.39.2 that the distributed
# write tests (issue 14) run as receivers and a querier, and prints
#   export PROMGATE_TEST_THANOS_BIN=...
# for eval. Build output goes to stderr. A cold build takes about 7 minutes
# on 2 cores, about 2 with a warm module cache.
#
# Why 0.39.2: 0.40.0 to 0.42.5 build, but a receiver crashes as soon as a
# querier calls it (thanos-io/thanos#8543). Why not `go install ...@v0.39.2`:
# Thanos' go.mod has replace directives, which `go install` refuses, so this
# builds inside a writable copy of the module folder instead.
set -euo pipefail
want=0.39.2
rev=36681afb5eb001b1658fd85bd2cc900b55cce1bc # tag v0.39.2
dir="${PROMGATE_CI_CACHE:-$HOME/.cache/promgate-ci}/bin"
bin="$dir/thanos"
# Thanos' kingpin prints --version on stderr, hence 2>&1; grep without -q
# reads it all, so no SIGPIPE fails the pipeline under pipefail.
if ! { [ -x "$bin" ] && "$bin" --version 2>&1 | grep "version $want " >/dev/null; }; then
  mkdir -p "$dir"
  echo "building Thanos $want into $dir (about 7 minutes cold, 2 warm)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # A neutral directory keeps the repo's go.mod and GOFLAGS out of it.
  src="$(cd "$work" && go mod download -json "github.com/thanos-io/thanos@v$want" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    echo "thanos.sh: go mod download gave no module folder for v$want" >&2
    exit 1
  fi
  cp -r "$src" "$work/thanos"
  chmod -R u+w "$work/thanos"
  # zenhack.net no longer serves its module; the same code lives on GitHub.
  # -mod=mod lets the build record the replacement's checksum in go.sum.
  (cd "$work/thanos" &&
    go mod edit -replace zenhack.net/go/util=github.com/zenhack/go-util@v0.0.0-20231005031245-66f5419c2aea &&
    go build -mod=mod -o "$bin.tmp" \
      -ldflags "-X github.com/prometheus/common/version.Version=$want -X github.com/prometheus/common/version.Revision=$rev -X github.com/prometheus/common/version.Branch=HEAD" \
      ./cmd/thanos) >&2
  mv "$bin.tmp" "$bin"
fi
echo "export PROMGATE_TEST_THANOS_BIN=$bin"
