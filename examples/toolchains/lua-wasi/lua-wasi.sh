#!/usr/bin/env bash
# Builds the Lua 5.4 interpreter (lua.c, unchanged) for wasm32-wasi from Debian's lua5.4 source package and
# copies it to OUT: lua-wasi.sh OUT.wasm
#
# Sources: `apt-get source lua5.4` (upstream tarball + Debian's patches, CVE fixes included) through a
# private deb-src list under the cache folder, so the machine's apt configuration is left as it is.
# Configuration: compiler flags and the two headers beside this script (no edit of Lua's files):
#   hayate-lua-wasi.h  forced include: errors end the program (no setjmp in wasi-libc), tmpnam via mkstemp
#   setjmp.h           an empty stand-in for the header wasi-libc lacks
#   lua5.4-deb-multiarch.h  what debian/rules generates for luaconf.h
#   hayate-lua-wasi.c  system() (no shell), mkstemp() and tmpfile() that wasi-libc lacks
# The interpreter is built once per machine: CACHE (default <hayate>/build/toolchains/lua5.4).
set -euo pipefail

OUT="${1:?usage: lua-wasi.sh OUT.wasm}"
PORT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PORT/../../.." && pwd)"
CACHE="${HAYATE_TOOLCHAIN_CACHE:-$ROOT/build/toolchains}/lua5.4"
WASM="$CACHE/lua.wasm"
mkdir -p "$CACHE"

fetch() {
  local lists="$CACHE/apt-lists" sources="$CACHE/deb-src.sources"
  mkdir -p "$lists/partial"
  # the suite of this machine's Debian (bookworm): the source of the version apt would install
  local suite
  suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
  cat >"$sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local opts=(-o "Dir::Etc::SourceList=$sources" -o Dir::Etc::SourceParts=/nonexistent -o "Dir::State::Lists=$lists" -o APT::Sandbox::User=root)
  echo "lua-wasi: fetching Debian's lua5.4 sources" >&2
  apt-get "${opts[@]}" update -qq >&2
  (cd "$CACHE" && apt-get "${opts[@]}" source -qq lua5.4 >&2)
}

if [ ! -f "$WASM" ] || [ "$PORT/hayate-lua-wasi.h" -nt "$WASM" ] || [ "$PORT/hayate-lua-wasi.c" -nt "$WASM" ]; then
  src="$(ls -d "$CACHE"/lua5.4-*/src 2>/dev/null | head -1 || true)"
  if [ -z "$src" ]; then
    fetch
    src="$(ls -d "$CACHE"/lua5.4-*/src | head -1)"
  fi
  files=()
  for f in "$src"/*.c; do
    case "$(basename "$f")" in luac.c) ;; *) files+=("$f") ;; esac
  done
  echo "lua-wasi: building the interpreter from $(dirname "$src")" >&2
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug \
    -I"$PORT" -I"$src" -include hayate-lua-wasi.h \
    -DLUA_USE_C89 -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS \
    "${files[@]}" "$PORT/hayate-lua-wasi.c" \
    -lwasi-emulated-signal -lwasi-emulated-process-clocks -o "$WASM.tmp.$$"
  mv -f "$WASM.tmp.$$" "$WASM"
fi
cp -f "$WASM" "$OUT"
