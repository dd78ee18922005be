#!/usr/bin/env bash
# Runs duet's whole test suite on a fresh machine: installs what the tests
# need, then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# One build per run: incremental compilation's caches would double the
# target directory (tens of GiB for the test build) and buy nothing here.
export CARGO_INCREMENTAL=0

# Debian packages the tests need: iproute2 for the network-namespace tests
# (which also need root; they fail without it, unless DUET_SKIP_NETNS=1);
# protobuf-compiler and libprotobuf-dev to build etcd-client (the witness),
# etcd-server for the etcd the witness tests start and stop themselves;
# chromium, chromium-driver and firefox-esr for the web pages' browser tests;
# postgresql for the reporting tests, which start a throwaway cluster of its
# server binaries themselves (they fail without it, unless
# DUET_SKIP_POSTGRES=1; the package's own cluster need not run).
DEBIAN_PACKAGES=(iproute2 protobuf-compiler libprotobuf-dev etcd-server chromium chromium-driver firefox-esr postgresql)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# axe-core (npm) for the browser tests' accessibility checks.
if [ ! -f target/axe/node_modules/axe-core/axe.min.js ]; then
    npm install --no-save --prefix target/axe axe-core@4
fi

# Schemathesis (PyPI) for tests/api_schema.rs, which runs it against the
# served OpenAPI document; pinned, as its flags change between versions, in
# a virtual environment of its own (Debian's python3-venv where python3
# lacks venv).
SCHEMATHESIS_VERSION=4.32.5
if ! target/schemathesis/bin/schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -c "import venv, ensurepip" 2>/dev/null || {
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    }
    rm -rf target/schemathesis
    python3 -m venv target/schemathesis
    target/schemathesis/bin/pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Tools from crates.io: cargo-nextest (runs the tests), geckodriver
# (WebDriver for Firefox, the browser tests) and cargo-fuzz
# (scripts/fuzz.sh).
for tool in cargo-nextest geckodriver cargo-fuzz; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/$tool" ] || cargo install "$tool" --locked
done

# The toolchain components the checks use.
for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# Each phase says how long it took (bash's SECONDS: whole seconds).
phase() {
    [ -n "${phase_name:-}" ] && echo "== $phase_name took $((SECONDS - phase_started)) s"
    phase_name="$1"
    phase_started=$SECONDS
    [ -n "$phase_name" ] && echo "== $phase_name"
    return 0
}

phase "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
phase "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
phase "fuzz (every target, briefly)"
scripts/fuzz.sh
phase "tests (cargo nextest)"
# The tests reach only addresses of their own (loopback, and network
# namespaces they make), so they run without the proxy settings a machine
# may have for the package registries (every crate is fetched by now). The
# machine's own addresses are printed for a failing network test's reader.
for variable in http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY; do
    if [ -n "${!variable:-}" ]; then
        echo "($variable is set: the tests run without it)"
        unset "$variable"
    fi
done
echo "This machine's IPv4 addresses: $(ip -4 -o addr show 2>/dev/null | awk '{ printf "%s %s; ", $2, $4 }')"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Every test binary's tests, each in a process of its own, several at a
# time, never stopping at the first failure (.config/nextest.toml says
# which run alone and which first).
cargo nextest run --workspace --all-features --locked 2>&1 | tee "$log" || status=$?
echo "Slowest tests:"
# (awk reads all of sort's output: a `head` would stop reading, and the
# SIGPIPE sort gets would fail the script under pipefail.)
sed -n 's/^ *PASS \[ *\([0-9.]*\)s\] ([ 0-9/]*) \(.*\)$/\1 \2/p' "$log" | sort -rn |
    awk 'NR <= 5 { t = $1; sub(/^[^ ]+ /, ""); printf "  %7.1f s  %s\n", t, $0 }'
phase "doc tests"
# nextest runs no doc tests: cargo test does.
cargo test --workspace --all-features --locked --doc || status=$?
phase ""
exit "$status"
