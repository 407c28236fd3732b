# sluice worker image: compiled TypeScript on Node 20. Used by docker-compose.yml for the CPU and
# GPU workers (same image, different entry point).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./package.json
USER node
# SIGTERM lets running activities finish (SLUICE_SHUTDOWN_GRACE_SECONDS, default 30 s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/workers/cpu.js"]
