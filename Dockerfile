# redis-runbooks container image. NOT built by this project's tests or CI (there is no docker on the
# machine that runs them): the npm tarball it installs is what test/integration/package.redis.test.ts
# packs, installs and runs. See deploy/README.md.
#
#   docker build -t redis-runbooks .
#   docker build -t redis-runbooks:with-redis --build-arg WITH_REDIS_SERVER=true .   # embedded store possible
#   docker run --rm -v $PWD/config.yaml:/etc/redis-runbooks/config.yaml:ro -p 8080:8080 redis-runbooks start
ARG NODE_VERSION=20

# ---- build: compile TypeScript and pack exactly what `npm pack` ships ---------------------------
FROM node:${NODE_VERSION}-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md LICENSE ./
COPY bin ./bin
COPY src ./src
COPY runbooks ./runbooks
COPY docs ./docs
COPY deploy ./deploy
COPY examples ./examples
# prepack runs `npm run build` (tsc -p tsconfig.build.json → dist/)
RUN mkdir /out && npm pack --pack-destination /out && mv /out/redis-runbooks-*.tgz /out/redis-runbooks.tgz

# ---- runtime: node + the packed app, production dependencies only (no tsx, no TypeScript) ---------
FROM node:${NODE_VERSION}-slim AS runtime
# redis-server only for the embedded store (no `store:` in the config): a single-container try-out.
# Production points `store:` at a Redis (Sentinel or Cluster) of its own and leaves this false.
ARG WITH_REDIS_SERVER=false
RUN if [ "$WITH_REDIS_SERVER" = "true" ]; then \
      apt-get update && apt-get install -y --no-install-recommends redis-server \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /out/redis-runbooks.tgz /tmp/redis-runbooks.tgz
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/redis-runbooks.tgz \
    && rm /tmp/redis-runbooks.tgz && npm cache clean --force \
    && mkdir -p /etc/redis-runbooks /var/lib/redis-runbooks && chown node:node /var/lib/redis-runbooks
ENV NODE_ENV=production \
    REDIS_RUNBOOKS_CONFIG=/etc/redis-runbooks/config.yaml
USER node
WORKDIR /var/lib/redis-runbooks
EXPOSE 8080
# The config must say `http: { host: 0.0.0.0 }` (the default listens on loopback only). Probes:
# GET /healthz (process up) and GET /readyz (store reachable) on `start`; `worker` serves no HTTP.
ENTRYPOINT ["redis-runbooks"]
CMD ["start"]
