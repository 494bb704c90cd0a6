# smtpwire's Maildir sample server (what `npm start` runs) in a container.
# Build:  docker build -t smtpwire .
# Run:    docker run -d --name smtpwire -p 25:2525 -v smtpwire-mail:/var/lib/smtpwire smtpwire
# Flags after the image name are added to the defaults below (a later --port wins), e.g.
#         docker run --rm smtpwire --help

# Stage 1: compile the TypeScript with the dev dependencies, then gather in /runtime the packages
# the server imports (the sample's prom-client; the library needs none), at their locked versions.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY lib ./lib
COPY samples ./samples
COPY deploy/runtime-modules.mjs ./deploy/
RUN npm run build && node deploy/runtime-modules.mjs dist/samples/maildir-server.js /runtime

# Stage 2: only what runs: the compiled library and samples, package.json, those packages.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /runtime/node_modules ./node_modules
COPY --from=build /src/dist/lib ./dist/lib
COPY --from=build /src/dist/samples ./dist/samples
# The Maildir lives on a volume owned by the image's unprivileged `node` user (uid 1000).
RUN mkdir -p /var/lib/smtpwire/maildir && chown -R node:node /var/lib/smtpwire
VOLUME /var/lib/smtpwire
USER node
# A high port needs no privilege; publish it as 25 on the host (-p 25:2525).
EXPOSE 2525
# node itself is PID 1, so `docker stop`'s SIGTERM reaches the sample, which lets open sessions
# finish (up to --close-timeout, 30 s): give it `docker stop -t 40` or `stop_grace_period: 40s`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/samples/maildir-server.js", "--host", "0.0.0.0", "--port", "2525", "--maildir", "/var/lib/smtpwire/maildir"]
CMD []
