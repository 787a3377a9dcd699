# A taskwire god in a container. How to build and run it: docs/PACKAGING.md.
# The tests do not build this image (their machines have no container engine); the package it
# installs is the one test/package_test.ts packs and checks.

# 1. Pack the npm package from this checkout (npm pack compiles it to dist/).
FROM node:22-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The build needs only tsc: skip the install steps of Deno and esbuild (they serve the tests).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.build.json mod.ts worker.ts jetstream.ts README.md LICENSE CHANGELOG.md ./
COPY lib lib
COPY roles roles
COPY docs docs
RUN npm pack --pack-destination /tmp && mv /tmp/taskwire-*.tgz /tmp/taskwire.tgz

# 2. The god: the package and its runtime dependencies on a small Node image, as a non-root user.
FROM node:22-alpine
COPY --from=build /tmp/taskwire.tgz /tmp/taskwire.tgz
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/taskwire.tgz \
  && rm /tmp/taskwire.tgz \
  && npm cache clean --force \
  && mkdir /data \
  && chown node:node /data
USER node
WORKDIR /data
# The journal lives here: mount a volume so queued jobs survive the container.
VOLUME ["/data"]
# 5678: producers and consumers (TCP); 5680: the HTTP API, /metrics, the dashboard, /healthz.
EXPOSE 5678 5680
# The key: TASKWIRE_AUTHKEY in the environment, or a file (a mounted secret) passed as
# --authkey-file PATH. Without either, the god makes a new key at every start.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5680/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["taskwire", "god", "--listen", "0.0.0.0:5678", "--http", "0.0.0.0:5680", "--data", "/data"]
# Arguments given to `docker run` replace these and go after the ones above.
CMD ["--quiet"]
