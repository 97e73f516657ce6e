#!/usr/bin/env bash
# Installs what hayate needs on a Debian machine and starts the Docker engine when none runs.
# Idempotent and quiet when everything is there. Used by `npm start`, `npm test` and .ci/run.
#   npm packages (npm ci / npm install), nats-server, the WASI C toolchain (clang, lld, wasi-libc,
#   compiler-rt for wasm32), libc++ for wasm32 (C++ functions), rustc with the wasm32-wasi standard library
#   (Rust functions), dpkg-dev (unpacks Debian's Lua sources for the Lua interpreter), protoc, gcc and g++
#   (static native builds), musl-tools (C twins on musl: a fresh process per call starts faster), docker.io, wabt (wat2wasm: hand-written test modules such as the table bomb
#   of issue 11), chromium (the operator page's browser tests). AssemblyScript comes from npm
#   (devDependencies).
# Without root it prints the exact apt-get line instead and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nats-server clang lld wasi-libc libclang-rt-14-dev-wasm32 libc++-dev-wasm32 rustc libstd-rust-dev-wasm32 dpkg-dev protobuf-compiler gcc g++ libc6-dev musl-tools docker.io wabt chromium)
missing=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
need nats-server || missing+=(nats-server)
need clang || missing+=(clang)
need wasm-ld || missing+=(lld)
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing+=(wasi-libc)
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev-wasm32)
[ -f /usr/lib/wasm32-wasi/libc++.a ] || missing+=(libc++-dev-wasm32)
[ -x /usr/bin/rustc ] || missing+=(rustc)
[ -d /usr/lib/rustlib/wasm32-wasi ] || missing+=(libstd-rust-dev-wasm32)
need dpkg-source || missing+=(dpkg-dev)
need protoc || missing+=(protobuf-compiler)
need gcc || missing+=(gcc)
need g++ || missing+=(g++)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ "$(uname -m)" != x86_64 ] || missing+=(libc6-dev)
need musl-gcc || missing+=(musl-tools)
need dockerd || missing+=(docker.io)
need wat2wasm || missing+=(wabt)
# the operator page's browser tests (playwright-core drives it)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "hayate setup: missing system packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "hayate setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "hayate setup: installing npm packages" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >&2; else npm install --no-audit --no-fund >&2; fi
fi

# Docker is optional (SPEC §1): start an engine when we can, say so when we cannot.
bash scripts/start-dockerd.sh || echo "hayate setup: no Docker engine; the container tier is off (WASM only)" >&2
