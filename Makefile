# Herald's everyday commands. `make test` is what CI runs.

GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 15s
PKGS      ?= ./...
# VERSION is what herald --version, its start line and /api/stats report.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: test deps vet build run fuzz bench soak cluster clean

## test: install what the tests need if it is missing, then check formatting,
## vet and test
test: deps vet
	$(GO) test -race -shuffle=on -timeout 8m $(PKGS)

## deps: redis-server (cluster tests), python3-yaml (deployment files) and
## chromium (browser tests): installed when missing (as root, with apt-get);
## otherwise a missing redis-server or python3-yaml stops here, and a
## missing browser is said loudly and its tests are skipped
deps:
	@missing=""; browser=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	{ python3 -c 'import yaml' || /usr/bin/python3 -c 'import yaml'; } >/dev/null 2>&1 || missing="$$missing python3-yaml"; \
	{ [ -n "$$HERALD_CHROMIUM" ] || command -v chromium || command -v chromium-browser || command -v google-chrome; } \
		>/dev/null 2>&1 || browser="chromium"; \
	if [ -n "$$missing$$browser" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing:$$missing $$browser"; \
		apt-get update && apt-get install -y $$missing $$browser || exit 1; \
	elif [ -n "$$missing" ]; then \
		echo "the tests need:$$missing"; \
		echo "install them (Debian/Ubuntu: sudo apt-get install -y$$missing) and run make test again"; \
		exit 1; \
	elif [ -n "$$browser" ]; then \
		echo "************************************************************************"; \
		echo "* No Chromium: the browser tests in web/ will be SKIPPED.               *"; \
		echo "* Install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set   *"; \
		echo "* HERALD_CHROMIUM to a Chromium or Chrome binary, and run make test.    *"; \
		echo "************************************************************************"; \
	fi

# vet builds what it checks as the tests do (-race), so that on a clean
# checkout the test run reuses its compiled packages instead of building
# every one a second time.
vet:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then \
		echo "not formatted by gofmt (run gofmt -w on them):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet -race $(PKGS)

## build: the herald binary in bin/, its version from git describe
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/herald ./cmd/herald

## run: one node, everything in memory, on :8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/herald

## fuzz: each fuzz target for FUZZTIME, one after another
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

## bench: every Go benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## soak: the hardening attacks at a heavier scale against two real nodes on
## one Redis for HERALD_SOAK (default 3m); prints each node's RSS,
## goroutines, open files and CPU at the end. Not part of make test.
soak: deps
	$(GO) test -tags soak -run '^TestSoak$$' -v -timeout 30m ./e2e/

## cluster: a private redis-server and three nodes on loopback, each URL
## printed once its /healthz answers (Ctrl-C stops all; BASE_PORT and
## REDIS_PORT move them; a node that dies is named and the logs are kept)
cluster: build
	BINARY=$(BIN)/herald ./scripts/cluster.sh

clean:
	rm -rf $(BIN)
