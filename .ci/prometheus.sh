#!/usr/bin/env bash
# Builds (once, then reuses) the real Prometheus 3.16.0 and its promtool that
# the data source tests, the promtool tests and the benchmarks compare
# promgate with, and prints
#   export PROMGATE_TEST_PROMETHEUS_BIN=...
#   export PROMGATE_TEST_PROMTOOL_BIN=...
# for .ci/run to eval. Build output goes to stderr. A cold build takes about
# 5 minutes and 3.3 GB of RAM on 2 cores.
set -euo pipefail
want=3.16.0
dir="${PROMGATE_CI_CACHE:-$HOME/.cache/promgate-ci}/bin"
bin="$dir/prometheus"
# The version is read whole before matching: under pipefail, grep -q quitting
# early could kill the binary with SIGPIPE and force a needless rebuild.
have_version() { [ -x "$1" ] && [[ "$("$1" --version 2>/dev/null)" == *"version $want "* ]]; }
if ! have_version "$bin"; then
  mkdir -p "$dir"
  echo "building Prometheus $want into $dir (about 5 minutes)" >&2
  # Outside the module: @version installs ignore go.mod anyway, but a
  # neutral directory keeps any GOFLAGS of the repo out of it.
  # remove_all_sd drops the cloud service-discovery packages (AWS, Azure,
  # GCE, Kubernetes) that dominate the build; the tests scrape static
  # targets and receive remote_write only.
  (cd "$dir" && GOBIN="$dir" go install -tags remove_all_sd \
    -ldflags "-X github.com/prometheus/common/version.Version=$want" \
    github.com/prometheus/prometheus/cmd/prometheus@v0.316.0) >&2
fi
tool="$dir/promtool"
if ! have_version "$tool"; then
  echo "building promtool $want into $dir" >&2
  (cd "$dir" && GOBIN="$dir" go install \
    -ldflags "-X github.com/prometheus/common/version.Version=$want" \
    github.com/prometheus/prometheus/cmd/promtool@v0.316.0) >&2
fi
echo "export PROMGATE_TEST_PROMETHEUS_BIN=$bin"
echo "export PROMGATE_TEST_PROMTOOL_BIN=$tool"
