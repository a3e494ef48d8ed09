# The Nightshift worker image (docker-compose.yml runs it): `nightshift worker` by default.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would compile before the sources are here.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src src
COPY workflows workflows
COPY activities activities
COPY scripts/bundle-workflows.mjs scripts/
# What `npm run build` does: compile, then bundle the workflows once (workers skip webpack).
RUN npx tsc -p tsconfig.json && node scripts/bundle-workflows.mjs && npm prune --omit=dev

FROM node:24-slim
# The malloc settings of WORKER_MALLOC_ENV (src/config.ts): a worker's peak memory a quarter lower.
ENV NODE_ENV=production \
    NIGHTSHIFT_HOME=/data/nightshift \
    MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY examples examples
RUN mkdir -p /data/nightshift && chown node:node /data/nightshift
USER node
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["worker"]
