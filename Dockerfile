# syntax=docker/dockerfile:1
# EdgePier: one container per edge node or gateway. Build: docker build -t edgepier .
# Run on a gateway with docker-compose.yml (host networking, so mDNS reaches the LAN).

# --- build: full dependencies, TypeScript → dist/ ---------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY types ./types
COPY oci ./oci
COPY peer ./peer
COPY cache ./cache
COPY upstream ./upstream
COPY mirror ./mirror
COPY discovery ./discovery
COPY server ./server
COPY config ./config
COPY cli ./cli
COPY transparent ./transparent
RUN npm run build

# --- runtime: production dependencies only, non-root, tini as PID 1 --------------------
FROM node:20-bookworm-slim AS runtime
# tini forwards SIGTERM to node and reaps zombies, so `docker stop` runs the graceful
# shutdown (finish responses, mDNS goodbyes, abort downloads) instead of a SIGKILL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_MMAP_THRESHOLD_: glibc maps each blob read buffer on its own and gives it back when
# freed, so RSS returns to idle after a crowd of clients (cache/read-buffer-mapping.ts).
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=131072 \
    EDGEPIER_CACHE_DIR=/var/cache/edgepier \
    EDGEPIER_LISTEN=127.0.0.1:5000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
# A new named volume takes this directory's owner, so the node user can write its cache.
RUN mkdir -p /var/cache/edgepier && chown node:node /var/cache/edgepier
USER node
VOLUME /var/cache/edgepier
EXPOSE 5000 5001
# No curl in the slim image: node's own fetch probes /healthz on the port EDGEPIER_LISTEN names.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const port = (process.env.EDGEPIER_LISTEN || '').split(':').pop() || '5000'; fetch('http://127.0.0.1:' + port + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["serve"]
