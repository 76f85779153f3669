# Herald's everyday commands. `make test` is what CI runs.

GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 15s
PKGS      ?= ./...

.PHONY: test deps vet build run fuzz bench cluster clean

## test: install what the tests need if it is missing, then vet and test
test: deps vet
	$(GO) test -race -shuffle=on -timeout 8m $(PKGS)

## deps: redis-server (cluster tests), chromium (browser tests), python3-yaml (deployment files)
deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ python3 -c 'import yaml' || /usr/bin/python3 -c 'import yaml'; } >/dev/null 2>&1 || missing="$$missing python3-yaml"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update && apt-get install -y $$missing; \
		else \
			echo "the tests need:$$missing"; \
			echo "install them (Debian/Ubuntu: sudo apt-get install -y$$missing) and run make test again"; \
			exit 1; \
		fi; \
	fi

vet:
	$(GO) vet $(PKGS)

## build: the herald binary in bin/
build:
	$(GO) build -o $(BIN)/herald ./cmd/herald

## run: one node, everything in memory, on :8080
run:
	$(GO) run ./cmd/herald

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

## cluster: a private redis-server and three nodes on loopback (Ctrl-C stops all)
cluster:
	./scripts/cluster.sh

clean:
	rm -rf $(BIN)
