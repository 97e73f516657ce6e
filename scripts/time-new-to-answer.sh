#!/usr/bin/env bash
# Times what a new user does, per language: hayate new → hayate build → hayate deploy → first answer of
# `echo hi | hayate invoke`. Starts its own cluster (hayate up on free ports, 1 invoker) in a temp folder
# and stops it after. Prints one line per language: total and each step, in seconds.
#   bash scripts/time-new-to-answer.sh [lang...]      (default: c cpp rust assemblyscript lua)
# The first Lua build of a machine also fetches and builds the interpreter (cached after); the C, C++ and
# Rust builds include the native twin and its image when Docker answers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HAYATE=(node "$ROOT/bin/hayate.js")
if [ $# -gt 0 ]; then LANGS=("$@"); else LANGS=(c cpp rust assemblyscript lua); fi
WORK="$(mktemp -d)"
UP_PID=""
cleanup() {
  if [ -n "$UP_PID" ]; then kill -TERM "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

HAYATE_LOG_FORMAT=json "${HAYATE[@]}" up --http-port 0 --nats-port 0 --invokers 1 --data "$WORK/data" \
  >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 900); do
  grep -q '^hayate ready' "$WORK/up.out" 2>/dev/null && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$WORK/up.err" >&2; exit 1; }
  sleep 0.1
done
export HAYATE_URL
HAYATE_URL="$(sed -n 's/^hayate ready http=\([^ ]*\) .*/\1/p' "$WORK/up.out")"
[ -n "$HAYATE_URL" ] || { echo "time-new-to-answer: hayate up did not get ready" >&2; exit 1; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "language        total  new  build  deploy  invoke   (seconds; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
for lang in "${LANGS[@]}"; do
  name="hello-$lang"
  t0=$(now)
  (cd "$WORK" && "${HAYATE[@]}" new "$name" --lang "$lang" >/dev/null)
  t1=$(now)
  (cd "$WORK/$name" && "${HAYATE[@]}" build >/dev/null 2>"$WORK/$name.build.log") || { cat "$WORK/$name.build.log" >&2; exit 1; }
  t2=$(now)
  (cd "$WORK/$name" && "${HAYATE[@]}" deploy >/dev/null)
  t3=$(now)
  answer="$(cd "$WORK/$name" && echo hi | "${HAYATE[@]}" invoke "$name")"
  t4=$(now)
  [ "$answer" = "Hello, hi!" ] || { echo "time-new-to-answer: $lang answered '$answer'" >&2; exit 1; }
  printf '%-15s %6s %4s %6s %7s %7s\n' "$lang" "$(secs "$t0" "$t4")" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" "$(secs "$t2" "$t3")" "$(secs "$t3" "$t4")"
done
