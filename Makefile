# Starling — build, test and cross-compile. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN       := bin
LDFLAGS   := -s -w -X main.version=$(VERSION)
ARM64_CC  ?= aarch64-linux-gnu-gcc
ARM64_ENV := CGO_ENABLED=1 CC=$(ARM64_CC) GOOS=linux GOARCH=arm64
QEMU_USER := qemu-aarch64-static -L /usr/aarch64-linux-gnu
FUZZTIME  ?= 10s
CMDS      := ./firmware/cmd/starlingd ./firmware/cmd/starlingctl
TOOLS     := ./tools/starling-server ./tools/starling-ingest ./tools/starling-demo ./tools/starling-release ./tools/swarmbench/cmd/swarmbench

.PHONY: help setup build build-arm64 test test-native test-arm64 qemu-boot fuzz lint demo clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install the cross compiler, QEMU, vorbis-tools, sox, cpio (apt; fast when present)
	@tools/scripts/setup.sh
	@$(GO) mod download

build: ## build every command for this machine into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS) $(TOOLS)

build-arm64: setup ## cross-compile starlingd for arm64 (cgo, stripped) into bin/linux_arm64/
	@mkdir -p $(BIN)/linux_arm64
	$(ARM64_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux_arm64/ $(CMDS)
	@file $(BIN)/linux_arm64/starlingd

test: setup test-native test-arm64 qemu-boot ## everything CI runs: native -race, arm64 under qemu-user, qemu-system boot

test-native: ## unit tests natively with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

test-arm64: ## the same tests cross-compiled for arm64, run under qemu-aarch64 (no -race there)
	STARLING_TEST_EXEC='$(QEMU_USER)' $(ARM64_ENV) $(GO) test -count=1 -timeout 20m \
		-exec '$(QEMU_USER)' ./...

qemu-boot: build-arm64 ## boot an arm64 kernel in qemu-system with starlingd self-test as init
	tools/scripts/qemu-boot.sh $(BIN)/linux_arm64/starlingd

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@tools/scripts/fuzz-all.sh $(FUZZTIME)

lint: ## gofmt, go vet, staticcheck (pinned in go.mod as a tool)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

demo: setup build ## a service and three speakers on loopback; DEMO_FLAGS=--audible plays on the sound card
	@tools/scripts/demo.sh $(DEMO_FLAGS)

clean: ## remove build outputs (the kernel download cache in ~/.cache/starling stays)
	rm -rf $(BIN) .build
