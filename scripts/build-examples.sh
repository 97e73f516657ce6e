#!/usr/bin/env bash
# Build the example functions (WASI module + static native binary + Dockerfile)
# and the container watchdog.
#
#   build/examples/<name>/<name>.wasm   clang --target=wasm32-wasi -O2, debug stripped
#   build/examples/<name>/<name>        gcc -O3 -march=x86-64-v3 -static (if the CPU has it)
#   build/examples/<name>/Dockerfile    copied from examples/functions/<name>/
#   build/watchdog/hayate-watchdog      gcc -O2 -static
#   build/test-fixtures/bundles/<name>.wasm and <name>   test programs of functions with files
#                                       (test/fixtures/bundles/*.c), for WASM and, static, for containers
#
# Idempotent: a target newer than its source (and built with the same flags)
# is skipped. Prints one line per artefact built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="$ROOT/examples/functions"
OUT_DIR="$ROOT/build/examples"
WD_SRC="$ROOT/services/invoker/executors/container/watchdog/watchdog.c"
WD_OUT="$ROOT/build/watchdog/hayate-watchdog"

CLANG="${CLANG:-clang}"
CC="${CC:-gcc}"
WASI_SYSROOT="${WASI_SYSROOT:-/usr}"

die() { echo "build-examples: $*" >&2; exit 1; }

# ---- toolchain checks (name the missing Debian package) --------------------
missing=()
command -v "$CLANG" >/dev/null 2>&1 || missing+=(clang)
command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
[ -f "$WASI_SYSROOT/include/wasm32-wasi/stdio.h" ] && [ -f "$WASI_SYSROOT/lib/wasm32-wasi/libc.a" ] \
  || missing+=(wasi-libc)
if command -v "$CLANG" >/dev/null 2>&1; then
  rtdir="$("$CLANG" --target=wasm32-wasi -print-resource-dir 2>/dev/null || true)"
  if [ -z "$rtdir" ] || [ ! -f "$rtdir/lib/wasi/libclang_rt.builtins-wasm32.a" ]; then
    ver="$("$CLANG" -dumpversion 2>/dev/null | cut -d. -f1)"
    missing+=("libclang-rt-${ver:-14}-dev-wasm32")
  fi
fi
command -v "$CC" >/dev/null 2>&1 || missing+=(gcc)
if command -v "$CC" >/dev/null 2>&1 && [ ! -f "$("$CC" -print-file-name=libc.a)" ]; then
  missing+=(libc6-dev)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing toolchain package(s): ${missing[*]} — install with: apt-get install -y ${missing[*]}"
fi

# ---- native flags ----------------------------------------------------------
# -march=x86-64-v3 (AVX2, FMA, BMI2, MOVBE...) only when this CPU runs it.
cpu_has_v3() {
  [ "$(uname -m)" = x86_64 ] || return 1
  local flags
  flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
  for f in avx avx2 bmi1 bmi2 fma f16c movbe; do
    [[ " $flags " == *" $f "* ]] || return 1
  done
  return 0
}
if [ -n "${HAYATE_NATIVE_MARCH:-}" ]; then
  NATIVE_MARCH="$HAYATE_NATIVE_MARCH"
elif cpu_has_v3; then
  NATIVE_MARCH="-march=x86-64-v3"
else
  NATIVE_MARCH="-march=native"
fi
WASM_FLAGS=(--target=wasm32-wasi "--sysroot=$WASI_SYSROOT" -O2 -Wall -Wl,--strip-debug)
NATIVE_FLAGS=(-O3 $NATIVE_MARCH -static -s -Wall)
WD_FLAGS=(-O2 -static -s -Wall -Wextra)

# A flags stamp: changing compilers or flags rebuilds everything.
mkdir -p "$OUT_DIR" "$(dirname "$WD_OUT")"
stamp_text="wasm: $CLANG ${WASM_FLAGS[*]}
native: $CC ${NATIVE_FLAGS[*]}
watchdog: $CC ${WD_FLAGS[*]}"
STAMP="$ROOT/build/.build-examples.flags"
force=0
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$stamp_text" ]; then
  force=1
fi

built=0
uptodate=0

# up_to_date TARGET SOURCE: target exists and is newer than its source
up_to_date() {
  [ "$force" = 0 ] && [ -e "$1" ] && [ "$1" -nt "$2" ]
}

# compile into a temporary file, then rename: an interrupted build never
# leaves a half-written artefact that looks up to date.
compile() { # TARGET SOURCE CMD...
  local target="$1" src="$2"
  shift 2
  local tmp="$target.tmp.$$"
  if ! "$@" "$src" -o "$tmp"; then
    rm -f "$tmp"
    die "failed to build $target from $src"
  fi
  mv -f "$tmp" "$target"
  echo "built ${target#"$ROOT"/}"
  built=$((built + 1))
}

shopt -s nullglob
sources=("$SRC_DIR"/*/*.c)
[ "${#sources[@]}" -gt 0 ] || die "no example sources under $SRC_DIR"

for src in "${sources[@]}"; do
  dir="$(dirname "$src")"
  name="$(basename "$dir")"
  # one program per folder: <name>/<name>.c
  [ "$(basename "$src" .c)" = "$name" ] || continue
  out="$OUT_DIR/$name"
  mkdir -p "$out"

  if up_to_date "$out/$name.wasm" "$src"; then uptodate=$((uptodate + 1)); else
    compile "$out/$name.wasm" "$src" "$CLANG" "${WASM_FLAGS[@]}"
  fi
  if up_to_date "$out/$name" "$src"; then uptodate=$((uptodate + 1)); else
    compile "$out/$name" "$src" "$CC" "${NATIVE_FLAGS[@]}"
  fi
  if [ -f "$dir/Dockerfile" ]; then
    if [ -f "$out/Dockerfile" ] && cmp -s "$dir/Dockerfile" "$out/Dockerfile"; then
      uptodate=$((uptodate + 1))
    else
      cp -f "$dir/Dockerfile" "$out/Dockerfile"
      echo "built ${out#"$ROOT"/}/Dockerfile"
      built=$((built + 1))
    fi
  fi
done

# test programs that run in both tiers: a WASI module and a static binary (the image is built by the test)
FX_OUT="$ROOT/build/test-fixtures/bundles"
for src in "$ROOT"/test/fixtures/bundles/*.c; do
  name="$(basename "$src" .c)"
  mkdir -p "$FX_OUT"
  if up_to_date "$FX_OUT/$name.wasm" "$src"; then uptodate=$((uptodate + 1)); else
    compile "$FX_OUT/$name.wasm" "$src" "$CLANG" "${WASM_FLAGS[@]}"
  fi
  if up_to_date "$FX_OUT/$name" "$src"; then uptodate=$((uptodate + 1)); else
    compile "$FX_OUT/$name" "$src" "$CC" "${NATIVE_FLAGS[@]}"
  fi
done

if [ -f "$WD_SRC" ]; then
  if up_to_date "$WD_OUT" "$WD_SRC"; then uptodate=$((uptodate + 1)); else
    compile "$WD_OUT" "$WD_SRC" "$CC" "${WD_FLAGS[@]}"
  fi
fi

printf '%s\n' "$stamp_text" >"$STAMP"
echo "build-examples: $built built, $uptodate up to date (native $NATIVE_MARCH)"
