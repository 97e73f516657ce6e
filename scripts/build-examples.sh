#!/usr/bin/env bash
# Build the example functions and the container watchdog.
#
# Every examples/functions/<name>/ is a project as `hayate new` makes it (hayate.json, a program, a
# Dockerfile where the language has a native twin); `hayate build --no-image` builds it, with the toolchain
# of its language (services/cli/toolchains.ts), into build/examples/<name>/:
#   <name>.wasm   the WASI module (C, C++, Rust, AssemblyScript, Lua's interpreter)
#   <name>        the static native binary (C, C++, Rust), for the FROM scratch image
#   Dockerfile    copied from the project
#   build/watchdog/hayate-watchdog      gcc -O2 -static
# Images are scripts/build-images.sh's. Needs the TypeScript build (npm run build:ts) for `hayate build`.
#
# Idempotent: what is newer than its sources (and built with the same commands) is skipped. Prints one line
# per artefact built; a missing toolchain stops it with the apt or npm line that installs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="$ROOT/examples/functions"
OUT_DIR="$ROOT/build/examples"
WD_SRC="$ROOT/services/invoker/executors/container/watchdog/watchdog.c"
WD_OUT="$ROOT/build/watchdog/hayate-watchdog"
CC="${CC:-gcc}"

die() { echo "build-examples: $*" >&2; exit 1; }

[ -f "$ROOT/dist/services/cli/main.js" ] || die "hayate is not built: run npm run build:ts first"
command -v "$CC" >/dev/null 2>&1 || die "missing gcc — install with: apt-get install -y gcc libc6-dev"

shopt -s nullglob
count=0
for dir in "$SRC_DIR"/*/; do
  dir="${dir%/}"
  [ -f "$dir/hayate.json" ] || continue
  name="$(basename "$dir")"
  node "$ROOT/bin/hayate.js" build "$dir" --out "$OUT_DIR/$name" --no-image >/dev/null \
    || die "failed to build example $name"
  count=$((count + 1))
done
[ "$count" -gt 0 ] || die "no example projects under $SRC_DIR"

mkdir -p "$(dirname "$WD_OUT")"
if [ -f "$WD_SRC" ] && { [ ! -e "$WD_OUT" ] || [ "$WD_SRC" -nt "$WD_OUT" ]; }; then
  tmp="$WD_OUT.tmp.$$"
  "$CC" -O2 -static -s -Wall -Wextra "$WD_SRC" -o "$tmp" || { rm -f "$tmp"; die "failed to build $WD_OUT"; }
  mv -f "$tmp" "$WD_OUT"
  echo "built ${WD_OUT#"$ROOT"/}"
fi
echo "build-examples: $count examples up to date in ${OUT_DIR#"$ROOT"/}"
