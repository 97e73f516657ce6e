#!/bin/sh
# Puts the watchdog and the container socket folder on the host folder mounted at $HAYATE_HOST_DIR (same
# path inside and outside), then runs the invoker. See invoker.Dockerfile for why.
set -eu
if [ -d "${HAYATE_HOST_DIR:-}" ]; then
  install -m 0755 /opt/hayate/build/watchdog/hayate-watchdog "$HAYATE_HOST_DIR/hayate-watchdog"
  mkdir -p "$HAYATE_HOST_DIR/run"
  export HAYATE_WATCHDOG="${HAYATE_WATCHDOG:-$HAYATE_HOST_DIR/hayate-watchdog}"
  export HAYATE_RUNTIME_DIR="${HAYATE_RUNTIME_DIR:-$HAYATE_HOST_DIR/run}"
fi
exec node /opt/hayate/bin/hayate.js invoker "$@"
