# syntax=docker/dockerfile:1
#
# One image for every tickvault process; the command picks which one runs:
#   docker build -t tickvault:local .
#   docker run --rm -e DATABASE_URL=... tickvault:local dist/cli.js migrate
#   docker run -e DATABASE_URL=... -e REDIS_URL=... tickvault:local                      # writer (default)
#   docker run -e REDIS_URL=... -e HEALTH_PORT=9102 tickvault:local dist/ingest-crypto.js
# Services run as plain JavaScript: the build stage bundles each process into dist/<name>.js
# (tools/build/build.mjs, `npm run build`), and the runtime stage keeps dist/ beside the sources, whose
# folders the bundles read files from (libs/db/migrations, apps/dashboard/src/public).
# Expected size about 290 MB uncompressed: node:26-bookworm-slim ~210 MB, production node_modules ~70 MB
# (no TypeScript runtime: tsx and esbuild are dev dependencies), our sources ~2 MB, dist/ ~5 MB
# (~2 MB of JavaScript, the rest source maps).

# Node's current LTS line (26); .ci/run tests on the same release line and package.json engines admits it.
ARG NODE_IMAGE=node:26-bookworm-slim

# --- manifests: package.json of the root and of every workspace ---------------------------------
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
# Manifests first, so the installs below are reused until a dependency changes, not on every source
# edit. npm ci needs the package.json of every workspace (apps/*, libs/*, tools/*) to link them;
# tools/manifests/src/dockerfile.spec.ts fails when one is missing from this list.
COPY package.json package-lock.json ./
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/ingest-crypto/package.json apps/ingest-crypto/
COPY apps/ingest-macro/package.json apps/ingest-macro/
COPY apps/ingest-stock/package.json apps/ingest-stock/
COPY apps/scheduler/package.json apps/scheduler/
COPY apps/writer/package.json apps/writer/
COPY libs/config/package.json libs/config/
COPY libs/db/package.json libs/db/
COPY libs/ingest/package.json libs/ingest/
COPY libs/queue/package.json libs/queue/
COPY libs/runtime/package.json libs/runtime/
COPY libs/schema/package.json libs/schema/
COPY libs/sources/package.json libs/sources/
COPY libs/testing/package.json libs/testing/
COPY tools/bench/package.json tools/bench/
COPY tools/chaos/package.json tools/chaos/
COPY tools/cli/package.json tools/cli/
COPY tools/fake-feeds/package.json tools/fake-feeds/
COPY tools/manifests/package.json tools/manifests/

# --- deps: production node_modules only ------------------------------------------------------
FROM manifests AS deps
# --omit=dev drops tsx, esbuild, vitest, nx, eslint, typescript, testcontainers: the image runs dist/ only.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# --- build: every process bundled into dist/<name>.js ------------------------------------------
FROM manifests AS build
# Dev dependencies too: the build runs esbuild, a root devDependency.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig*.json ./
COPY apps ./apps
COPY libs ./libs
COPY tools ./tools
RUN node tools/build/build.mjs

# --- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# node_modules (with the workspace links node_modules/@tickvault/* -> ../../libs/...) plus any
# nested workspace node_modules. Owned by root: the service user can read the code, not change it.
COPY --from=deps /app ./
# LICENSE: the MIT terms travel with every copy of the software, this image included.
COPY package.json LICENSE ./
# Sources; libs/db/migrations ships inside libs (the migrate command and the services' schema check read it),
# and the bundles find such files through their source folders, so dist/ sits beside them in /app.
COPY apps ./apps
COPY libs ./libs
COPY tools ./tools
COPY --from=build /app/dist ./dist

# Where the dashboard keeps the password it generates on first start (DASHBOARD_PASSWORD_FILE's
# default, relative to /app). Owned by the service user, so a new named volume mounted here (compose's
# dashboard-data) starts out writable by it: Docker copies a mount point's owner into an empty volume.
RUN mkdir -m 0700 /app/.tickvault && chown node:node /app/.tickvault

# The unprivileged user of the official Node image (uid 1000).
USER node

# No curl in the slim image: Node's fetch asks /readyz. HEALTH_PORT must be the service's port;
# docker-compose.yml sets it for every service (unset, this checks the writer's default, 9101).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || 9101) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# `node dist/<name>.js`: the service is this one process (no wrapper), so SIGTERM from `docker stop`
# reaches its own graceful shutdown. The command picks the process: dist/writer.js, dist/ingest-crypto.js,
# dist/ingest-stock.js, dist/ingest-macro.js, dist/scheduler.js, dist/dashboard.js, dist/cli.js,
# dist/fake-feeds.js (ENTRIES in tools/build/build.mjs).
ENTRYPOINT ["node"]
CMD ["dist/writer.js"]
