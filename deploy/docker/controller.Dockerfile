# hayate controller image. Build from the repository root:
#   docker build -f deploy/docker/controller.Dockerfile -t hayate/controller:0.1.0 .
# Runs `hayate controller` on 0.0.0.0:8080; it refuses to start without HAYATE_API_KEYS (or --insecure)
# as it then listens beyond loopback.

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
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /opt/hayate
ENV NODE_ENV=production \
    HAYATE_HTTP_HOST=0.0.0.0 \
    HAYATE_HTTP_PORT=8080 \
    HAYATE_NATS_URL=nats://nats:4222
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/services ./dist/services
# uid of the image's `node` user, numeric so that Kubernetes runAsNonRoot can check it
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s CMD node -e "fetch('http://127.0.0.1:'+(process.env.HAYATE_HTTP_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/opt/hayate/bin/hayate.js", "controller"]
