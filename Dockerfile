# standin server image, on Node.js 22 (LTS; Node 20 reached its end of life in April 2026).
# The CLI itself still runs on Node 20.19+ (package.json "engines"); the image uses a
# maintained line. Build it, tag it with your registry and push it (docs/kubernetes.md):
#   docker build -t registry.example.test/team/standin:0.1.0 .
#   docker push registry.example.test/team/standin:0.1.0
# and set that name in k8s/base/kustomization.yaml (images:). Locally:
#   docker build -t standin:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9000-9099:9000-9099 -e STANDIN_TOKEN=... standin:0.1.0
# Any flag of `standin server` can be given as an env var (STANDIN_<FLAG>) or appended:
#   docker run ... standin:0.1.0 --log-level debug

# --- build: all dependencies, TypeScript compiled to dist/ -----------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
# Manifests first, so the npm ci layer is reused until the dependencies change.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# --- runtime: production dependencies and the compiled server only --------------------------
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
# The same directories package.json publishes ("files"); tests, bench and k8s stay behind.
COPY --from=build /app/dist/bin ./dist/bin
COPY --from=build /app/dist/server ./dist/server
COPY --from=build /app/dist/client ./dist/client
COPY --from=build /app/dist/shared ./dist/shared
# "node" (uid 1000) comes with the official image. k8s/base/deployment.yaml repeats the uid as
# runAsUser, because the kubelet cannot check runAsNonRoot against a user name.
USER node
EXPOSE 8080 9000-9099
# Exec form, with node itself as PID 1: no shell and no npm in between, so the SIGTERM that
# Kubernetes sends on shutdown reaches the server, which drains and exits 0 within
# --shutdown-grace. Behind `sh -c` or `npm start` the signal may never arrive, and the pod
# would be killed with SIGKILL at the end of terminationGracePeriodSeconds instead. (As PID 1,
# node gets no default signal actions from the kernel; the server installs its own SIGTERM
# handler, which is what makes this work.)
ENTRYPOINT ["node", "dist/bin/standin.js", "server"]
