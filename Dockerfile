# Multi-stage image of the operator: types are checked and compiled in the build stage, and the
# runtime stage holds only production dependencies, the compiled code and the CRDs.
# NOTE: no container engine runs on the development machines, so this file has not been built.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY crds ./crds
RUN node_modules/.bin/tsc -p tsconfig.build.json \
  && cp -r src/emulator/contract dist/src/emulator/contract

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY crds ./crds
COPY examples ./examples
# The distroless nonroot user as numbers, so that Kubernetes can verify runAsNonRoot. The image
# has no shell: the entrypoint is Node itself, in exec form, so Node runs as PID 1 and gets
# SIGTERM directly. The operator's handler then stops its controllers and releases the Lease.
# V8 sizes its young generation from the machine's memory, up to 3 x 64 MiB semispace on a large
# node; the operator's garbage is short-lived and small, so 2 MiB keeps its peak RSS at about half
# (bench/memory.ts, BENCHMARKS.md) at no measured cost in time to converge.
# The old generation gets half of the container's memory limit, which Node 24 reads from the
# cgroup; the rest of the limit holds the process's memory outside the V8 heap. The Helm chart
# sets the same NODE_OPTIONS, with the percentage from heap.percentOfMemoryLimit.
# NOTE: without a memory limit the percentage applies to the host's memory. Run the image with
# a limit, or set NODE_OPTIONS without --max-old-space-size-percentage.
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size-percentage=50"
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli/main.js"]
CMD ["run"]
