#!/usr/bin/env bash
# The docaxis test command: installs what the suites need if it is missing,
# then runs formatting, lint, every test of the workspace once, and a short
# run of the fuzz targets.
#
#   bash tests/run.sh
#
# Needs: cargo; root (or sudo) only if something must be installed.
# What it installs when missing: xmllint (Debian libxml2-utils, for the XSD
# checks), Debian's chromium (the dashboard's browser test), RabbitMQ (Debian rabbitmq-server, for the axis tests, started if
# down), Python's lxml and cryptography (the independent XML-DSig
# implementation of the interop test), and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

say "checking what the suites need"
command -v xmllint >/dev/null || { echo "installing libxml2-utils (xmllint)"; apt_install libxml2-utils; }
command -v python3 >/dev/null || { echo "installing python3"; apt_install python3 python3-pip; }
if ! python3 -c 'import lxml, cryptography' 2>/dev/null; then
  echo "installing Python lxml and cryptography"
  python3 -m pip install -q lxml cryptography 2>/dev/null \
    || python3 -m pip install -q --break-system-packages lxml cryptography 2>/dev/null \
    || apt_install python3-lxml python3-cryptography
fi
[ -x /usr/bin/chromium ] || { echo "installing chromium (the dashboard's browser test)"; apt_install chromium; }
command -v rabbitmq-server >/dev/null || { echo "installing rabbitmq-server"; apt_install rabbitmq-server; }
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  as_root rabbitmq-server -detached
  for _ in $(seq 1 60); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
  rabbitmq-diagnostics -q ping >/dev/null
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test --workspace"
cargo test --workspace --locked

# The parser, canonicalizer and verifier fuzz targets, a short run on every
# change (fuzz/README.md has the long runs). FUZZ_SECS=0 skips it.
fuzz_secs="${FUZZ_SECS:-12}"
if [ "$fuzz_secs" != 0 ]; then
  say "fuzzing: parse, c14n, c14n_stream, verify, verify_mutate for ${fuzz_secs} s each"
  command -v cargo-fuzz >/dev/null || { echo "installing cargo-fuzz"; cargo install --locked -q cargo-fuzz; }
  FUZZ_SANITIZER=none fuzz/run-ci.sh "$fuzz_secs" parse c14n c14n_stream verify verify_mutate
fi
