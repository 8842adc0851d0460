# The test command: every Go test (unit, end-to-end, real browser pages) and the
# official MCP conformance suite. .ci/run installs prerequisites and runs this.
GO ?= go

.PHONY: test unit conformance bench build fuzz test-hydra

test: unit conformance

# The concurrency-heavy packages run a second time under the race detector.
RACE_PKGS = ./authstore ./callback ./oauth ./manager ./proxy ./api ./config

unit:
	bash e2e/idp/install.sh
	bash e2e/opencode/install.sh
	bash e2e/zitadel/build.sh
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m ./...
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)

conformance:
	bash scripts/conformance.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mcplink ./cmd/mcplink

bench:
	bash bench/run.sh

fuzz:
	$(GO) test ./config -run '^$$' -fuzz FuzzLoad -fuzztime 60s
	$(GO) test ./oauth -run '^$$' -fuzz FuzzRedirectPolicy -fuzztime 30s
	$(GO) test ./oauth -run '^$$' -fuzz FuzzSSEEventBound -fuzztime 30s

# Opt-in: sign in against a real Ory Hydra (built from source at a pinned
# release the first time, about 10 minutes; see e2e/hydra/run.sh).
test-hydra:
	GO=$(GO) bash e2e/hydra/run.sh
