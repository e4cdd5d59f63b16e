# syntax=docker/dockerfile:1.7
# One image for every Pulse program; the first argument picks it:
#   docker run IMAGE write | replicator | read | operator
# Build from the repository root: docker build -t pulse .

ARG NODE_IMAGE=node:20.19-bookworm-slim

# ---- build: every workspace's dev dependencies, then tsc -b of the programs and their libraries
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
# The manifests alone first, so the npm layer is reused while only sources change. npm ci wants
# every workspace of the lockfile, the test harness included.
COPY services/core/package.json services/core/
COPY services/write/package.json services/write/
COPY services/replicator/package.json services/replicator/
COPY services/read/package.json services/read/
COPY operator/package.json operator/
COPY test/package.json test/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY services services
COPY operator operator
RUN npx tsc -b services/write services/replicator services/read operator

# ---- prod-deps: runtime dependencies of the four programs only (no dev tools, no test harness)
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/services/core/package.json services/core/
COPY --from=build /src/services/write/package.json services/write/
COPY --from=build /src/services/replicator/package.json services/replicator/
COPY --from=build /src/services/read/package.json services/read/
COPY --from=build /src/operator/package.json operator/
COPY --from=build /src/test/package.json test/
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund \
      --workspace=services/core --workspace=services/write --workspace=services/replicator \
      --workspace=services/read --workspace=operator \
 && rm -rf test node_modules/@pulse/test

# ---- runtime
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/ ./
COPY --from=build /src/services/core/dist services/core/dist
COPY --from=build /src/services/write/dist services/write/dist
COPY --from=build /src/services/write/migrations services/write/migrations
COPY --from=build /src/services/replicator/dist services/replicator/dist
COPY --from=build /src/services/replicator/migrations services/replicator/migrations
COPY --from=build /src/services/read/dist services/read/dist
COPY --from=build /src/operator/dist operator/dist
COPY --chmod=0755 <<'SH' /usr/local/bin/pulse
#!/bin/sh
# pulse write|replicator|read|operator [args...]: exec, so node is PID 1 and gets SIGTERM itself.
set -eu
program="${1:-}"
case "$program" in
  write | replicator | read) main="/app/services/$program/dist/main.js" ;;
  operator) main="/app/operator/dist/main.js" ;;
  *) echo "usage: pulse write|replicator|read|operator" >&2; exit 64 ;;
esac
shift
exec node "$main" "$@"
SH
# A numeric uid, so that Kubernetes' runAsNonRoot can verify it; nothing in /app is writable.
RUN groupadd --system --gid 10001 pulse && useradd --system --uid 10001 --gid pulse --no-create-home pulse
USER 10001:10001
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["/usr/local/bin/pulse"]
CMD ["write"]
