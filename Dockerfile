# syntax=docker/dockerfile:1
# One image for every process role: `node dist/src/main.js api|worker|all`, the CLI (`npm run cli -- …`) and the demo.

# The Node release CI also tests on (.nvmrc); keep the two in step.
ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the lockfile. No dependency needs its install script (package.json "allowScripts" denies them all; older
# npm releases do not read that field, hence --ignore-scripts).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# bench/ stays out: the benchmark runs from a development checkout (its load generator is a dev dependency).
COPY src ./src
# Compile, then drop the dev dependencies (typescript, jest, …) so the runtime stage copies production ones only.
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Defaults per NODE_ENV; secrets never live here (environment or *_FILE only).
COPY config ./config
# The compliance console's static files, served as written at /console/ (src/modules/compliance/console-assets.ts).
COPY console ./console
# The files above stay owned by root: the gateway cannot rewrite its own code or defaults.
# The audit archive's mount point (AUDIT_ARCHIVE_DIR), the one place the worker writes; a named volume copies its owner.
RUN mkdir -p /var/lib/gateway/audit-archive && chown node:node /var/lib/gateway/audit-archive
USER node
EXPOSE 3000
CMD ["node", "dist/src/main.js", "api"]
