# Multi-stage build: a static binary in an image holding only it and the CA
# certificates it needs to reach Slack over TLS.
#
# Layers go from the least to the most often changed: the module list and its
# downloads first, then the Go sources (.dockerignore lets nothing else in),
# so editing .env, the docs or tests never rebuilds the module cache, and
# editing only them does not rebuild the binary either.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bot ./cmd/bot

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bot /bot
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/bot"]
