# macsensor — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/macsensor
PKGS    := ./...
DARWIN  := darwin/arm64 darwin/amd64
RUNARGS ?=

.PHONY: all build run test fmt-check vet darwin bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/macsensor

run: build
	$(BIN) run $(RUNARGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	@for p in $(DARWIN); do \
		echo "go vet $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet $(PKGS) || exit 1; \
	done

darwin:
	@for p in $(DARWIN); do \
		echo "go build $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -o /dev/null ./cmd/macsensor || exit 1; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build $(PKGS) || exit 1; \
	done

test: fmt-check vet darwin
	$(GO) test -race -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin dist var
