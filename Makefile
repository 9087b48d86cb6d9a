# auditprof. `make help` lists the targets.

GO       ?= go
CLANG    ?= clang-14
STRIP    ?= llvm-strip-14
# VM kernels and guest packages (Debian 6.1 and 6.12, auditd, stress-ng; arm64 6.12 in arm64/).
VM_ASSETS ?= $(CURDIR)/.cache/vm-assets

export BPF2GO_CC := $(CLANG)
export BPF2GO_STRIP := $(STRIP)

.PHONY: all build generate test unit lint-sh vmtest demo bench vm-assets deps help clean

all: build

## build: static binaries bin/auditprof (amd64) and bin/auditprof-arm64 (no clang needed, the BPF objects of both are committed)
build:
	CGO_ENABLED=0 GOARCH=amd64 $(GO) build -trimpath -o bin/auditprof ./cmd/auditprof
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -trimpath -o bin/auditprof-arm64 ./cmd/auditprof

## generate: rebuild the BPF objects and their Go bindings with bpf2go
generate: deps
	$(GO) generate ./internal/probe/ ./internal/e2e/floor/

deps:
	@./scripts/install-deps.sh

vm-assets:
	@./scripts/vm-assets.sh $(VM_ASSETS)
	@./scripts/vm-assets-arm64.sh $(VM_ASSETS)

## test: every test: shellcheck, unit, fuzz seeds, staleness of generated files, real kernels in qemu
test: deps vm-assets lint-sh
	$(GO) vet ./...
	AUDITPROF_REQUIRE_CLANG=1 AUDITPROF_REQUIRE_BROWSER=1 AUDITPROF_VM_ASSETS=$(VM_ASSETS) $(GO) test -count=1 -timeout 85m ./...

# The guest scripts (busybox sh; each names its dialect in a
# `# shellcheck shell=sh` line, having no shebang) and the host's (bash).
SH_FILES = $(shell find internal scripts -name '*.sh' -type f | sort)

## lint-sh: shellcheck every shell script; an error fails it
lint-sh:
	@command -v shellcheck >/dev/null || { echo "lint-sh: no shellcheck: run make deps" >&2; exit 1; }
	shellcheck -S error $(SH_FILES)

## unit: the tests that need no VM
unit:
	$(GO) test -count=1 ./...

## demo: boot a real Debian kernel in qemu, overload the audit backlog with auditd + stress-ng, record it
demo: vm-assets
	AUDITPROF_VM_ASSETS=$(VM_ASSETS) $(GO) run ./internal/e2e/demo

## bench: overhead in guest time (icount): fixed loads without auditprof, with fentry, with kprobes, the floor, bpftrace; BPF ns per record
bench: vm-assets
	@./scripts/vm-assets-bpftrace.sh $(VM_ASSETS)
	AUDITPROF_VM_ASSETS=$(VM_ASSETS) $(GO) test -count=1 -timeout 120m -run '^$$' -bench . -benchtime 1x ./internal/e2e/

help:
	@awk '/^## /{sub(/^## /,""); split($$0,a,": "); printf "  %-10s %s\n", a[1], a[2]}' $(MAKEFILE_LIST)

clean:
	rm -rf bin
