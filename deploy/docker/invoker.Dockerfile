# hayate invoker image. Build from the repository root:
#   docker build -f deploy/docker/invoker.Dockerfile -t hayate/invoker:0.1.0 .
#
# The WASM tier needs nothing from the host. The container tier talks to the host's Docker engine through
# its socket and bind-mounts two things into each warm container: the static watchdog and a per-container
# socket folder. The engine resolves bind-mount sources on the HOST, so both must live on a host folder
# mounted at the same path inside this container (HAYATE_HOST_DIR, default /var/lib/hayate): the
# entrypoint copies the watchdog there. Without the Docker socket the invoker runs WASM only.

FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY scripts ./scripts
COPY services ./services
# the CLI imports bench/ for `hayate bench`: tsc needs it to compile
COPY bench ./bench
COPY bin ./bin
RUN node scripts/gen-proto.js && npx tsc -p tsconfig.json \
 && mkdir -p build/watchdog \
 && gcc -O2 -static -o build/watchdog/hayate-watchdog services/invoker/executors/container/watchdog/watchdog.c \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /opt/hayate
ENV NODE_ENV=production \
    HAYATE_NATS_URL=nats://nats:4222 \
    HAYATE_HOST_DIR=/var/lib/hayate \
    HAYATE_METRICS_HOST=0.0.0.0 \
    HAYATE_METRICS_PORT=9464
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/services ./dist/services
COPY --from=build /src/build/watchdog/hayate-watchdog ./build/watchdog/hayate-watchdog
COPY deploy/docker/invoker-entrypoint.sh /usr/local/bin/hayate-invoker-entrypoint
# root: the Docker socket is root's (a docker group id differs from host to host)
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/hayate-invoker-entrypoint"]
