# syntax=docker/dockerfile:1
#
# Image of the connector binary; docker-compose.yml runs it as `migrate`,
# `api` and `worker`. The build-stage Go version must match the go directive
# in go.mod (checked by `go test ./deploy/`).

FROM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first, as their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# cgo is required: gorm.io/driver/sqlite uses mattn/go-sqlite3.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/connector ./cmd/connector


FROM debian:bookworm-slim
# ca-certificates: TLS to Sinch and other HTTPS endpoints; curl: healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid connector --home-dir /var/lib/connector --create-home --shell /usr/sbin/nologin connector \
    && install -d -o connector -g connector -m 0750 /var/lib/connector/media

COPY --from=build /out/connector /usr/local/bin/connector

USER connector:connector
WORKDIR /var/lib/connector
# 8080: the HTTP API (api); 9090: GET /metrics of the worker (METRICS_ADDR).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/connector"]
