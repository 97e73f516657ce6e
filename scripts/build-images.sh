#!/usr/bin/env bash
# Build a Docker image hayate-example/<name>:latest (labels hayate.example and io.hayate.function, the one
# the deploy allowlist accepts) for every example with a native twin built by
# scripts/build-examples.sh (context: build/examples/<name>/, holding the static
# native binary and its Dockerfile). Skips an image that exists and was built
# from the same binary and Dockerfile: their sha256 is kept in the image label
# hayate.content-sha256 (a timestamp would not do: the classic builder reuses
# its cache for identical content and keeps the old creation time). Without a
# reachable Docker engine it says so and exits 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="$ROOT/build/examples"
DOCKER="${DOCKER:-docker}"

if ! command -v "$DOCKER" >/dev/null 2>&1 || ! "$DOCKER" info >/dev/null 2>&1; then
  echo "build-images: no Docker engine, skipping"
  exit 0
fi

# The docker CLI uses BuildKit only through the buildx plugin; without it, ask
# for the classic builder explicitly (FROM scratch + COPY needs nothing more).
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! "$DOCKER" buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

shopt -s nullglob
built=0
uptodate=0
for dir in "$OUT_DIR"/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  bin="$dir/$name"
  [ -f "$dir/Dockerfile" ] && [ -x "$bin" ] || continue
  image="hayate-example/$name:latest"

  # "labels 2": images built before the io.hayate.function label are rebuilt once to get it
  digest="$({ cat "$bin" "$dir/Dockerfile"; echo "labels 2"; } | sha256sum | cut -d' ' -f1)"
  have="$("$DOCKER" image inspect -f '{{index .Config.Labels "hayate.content-sha256"}}' "$image" 2>/dev/null || true)"
  if [ "$have" = "$digest" ]; then
    uptodate=$((uptodate + 1))
    continue
  fi

  if ! log="$("$DOCKER" build -q --label "hayate.example=$name" --label "io.hayate.function=$name" \
      --label "hayate.content-sha256=$digest" -t "$image" "$dir" 2>&1)"; then
    echo "$log" >&2
    echo "build-images: failed to build $image" >&2
    exit 1
  fi
  id="$(printf '%s\n' "$log" | tail -1)"
  echo "built image $image ${id:0:19}"
  built=$((built + 1))
done

# Drop the untagged images that rebuilt examples left behind (ours only).
if [ "$built" -gt 0 ]; then
  "$DOCKER" image prune -f --filter "label=hayate.example" >/dev/null 2>&1 || true
fi

if [ $((built + uptodate)) -eq 0 ]; then
  echo "build-images: nothing to build (run scripts/build-examples.sh first)" >&2
  exit 1
fi
echo "build-images: $built built, $uptodate up to date"
