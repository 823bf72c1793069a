# Commands people repeat. `make test` is the README's test command.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X github.com/mosnctl/mosnctl/internal/buildinfo.Version=$(VERSION) -X github.com/mosnctl/mosnctl/internal/buildinfo.Commit=$(COMMIT)
FUZZTIME ?= 30s

.PHONY: build boring test bench idle-bench fuzz lint peers tls-peers tlsbench tlsbench-smoke release-check release-snapshot clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mosnctl .

# The boringcrypto variant tlsbench runs as its "boringcrypto" engine (cgo on).
boring:
	CGO_ENABLED=1 GOEXPERIMENT=boringcrypto $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mosnctl-boring .

test:
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/protocol/... ./internal/router ./internal/upstream ./internal/proxy ./internal/stream ./internal/server

# Idle connections: RSS growth per idle HTTP/1, Bolt and HTTP/2 keep-alive connection
# in both IO models (IDLE_CONNS connections to a child `mosnctl serve`, each
# after one request), then 5000 connections opened at once in each model.
# Needs RLIMIT_NOFILE above IDLE_CONNS + 512 and 15 256 (ulimit -n).
IDLE_CONNS ?= 10000
idle-bench: build
	$(GO) test -count=1 -timeout 30m -run '^TestIdleFootprint$$' -v ./internal/server/ -args -idle-conns=$(IDLE_CONNS) -idle-bin=$(CURDIR)/bin/mosnctl
	$(GO) test -count=1 -run '^TestAcceptBurst$$' -v ./internal/server/ -args -burst-conns=5000
	MOSNCTL_TEST_IO_MODEL=goroutine $(GO) test -count=1 -run '^TestAcceptBurst$$' -v ./internal/server/ -args -burst-conns=5000

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	$(GO) mod tidy -diff

peers: build
	../shared/bench/peers.sh --cmd "bin/mosnctl serve -c testdata/bench-http1.json --admin-address off" --port 2046

# Every suite and engine, 2 s a cell, median of 3 (run it on a quiet host).
tlsbench: build boring
	bin/mosnctl tlsbench --duration 2s --repeat 3

# What CI runs: one suite, every engine, 1 s a cell.
tlsbench-smoke: build boring
	bin/mosnctl tlsbench --suite ECDHE-ECDSA-AES256-GCM-SHA384 --curve X25519 --duration 1s

# TLS termination against nginx: keep-alive requests/s and full handshakes/s,
# with the server CPU per operation (needs nginx, wrk, openssl; quiet host).
tls-peers: build
	scripts/tls-peers.sh --rounds 5

release-check:
	goreleaser check

release-snapshot:
	goreleaser release --snapshot --clean

clean:
	rm -rf bin dist
