# macsensor — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin/macsensor
PKGS    := ./...
DARWIN  := darwin/arm64 darwin/amd64
RUNARGS ?=

.PHONY: all build run test deps fmt-check vet darwin staticcheck bench fuzz clean pkg

# Debian packages the tests run as independent checkers (see docs): bsdtar,
# GNU cpio, file and shellcheck verify the .pkg; rsyslog is the forwarder of
# the forwarding end-to-end test. Installed when missing (needs root + apt).
DEB_TOOLS := bsdtar:libarchive-tools cpio:cpio file:file shellcheck:shellcheck rsyslogd:rsyslog

# staticcheck, pinned (module honnef.co/go/tools v0.8.2 = staticcheck
# 2026.2.2, which analyses go1.26 code); `make deps` installs it from the Go
# module proxy into $(GOPATH)/bin when it is missing or another version.
# Checks: staticcheck's defaults (no staticcheck.conf); the one exception is
# a //lint:file-ignore SA1019 in sensor/capture/capture_darwin.go, with why.
STATICCHECK_VERSION := 0.8.2
STATICCHECK         := $(shell $(GO) env GOPATH)/bin/staticcheck

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

deps:
	@missing=""; for t in $(DEB_TOOLS); do \
		command -v $${t%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${t%%:*} ] || missing="$$missing $${t#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "make deps: install these Debian packages:$$missing"; exit 1; fi; \
	fi
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))' || { \
		echo "installing staticcheck v$(STATICCHECK_VERSION)"; \
		GOBIN=$(dir $(STATICCHECK)) CGO_ENABLED=0 $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION); }

# staticcheck for linux and each darwin target (build tags differ).
staticcheck:
	$(STATICCHECK) $(PKGS)
	@for p in $(DARWIN); do \
		echo "staticcheck $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(STATICCHECK) $(PKGS) || exit 1; \
	done

# The end-to-end tests (cmd/macsensor) run after the other packages', on
# their own: they time processes that live 10 ms, which the other
# packages' tests, run beside them, can starve of CPU on a 2-core machine.
E2E := github.com/macsensor/macsensor/cmd/macsensor
test: deps fmt-check vet darwin staticcheck
	$(GO) test -race -count=1 $$($(GO) list $(PKGS) | grep -vx '$(E2E)')
	$(GO) test -race -count=1 $(E2E)

# The flat .pkg for MDM (docs/INSTALL.md). VERSION and IDENTIFIER may be set;
# SOURCE_DATE_EPOCH (default: the last commit's time) makes it reproducible.
VERSION    ?= 0.1.0
IDENTIFIER ?= com.macsensor.pkg
pkg:
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
		$(GO) run ./pkg-build --version $(VERSION) --identifier $(IDENTIFIER) -o dist/macsensor-$(VERSION).pkg

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin dist var

# Regenerate generated sources (sensor/ecs/fields_gen.go from the ecs tags
# of ecs.Event); make test fails when they are stale.
.PHONY: generate
generate:
	$(GO) generate ./sensor/ecs
