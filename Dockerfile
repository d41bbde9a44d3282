# Gatehouse: build and run. `docker compose up` uses this with PostgreSQL and an SMTP catcher.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY libs libs
COPY migrations migrations
COPY bench bench
RUN npm ci && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
USER node
EXPOSE 3000 3001 3002
CMD ["node", "--enable-source-maps", "dist/apps/gatehouse/src/main.js"]
