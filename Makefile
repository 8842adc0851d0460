# The test command (scripts/test.sh): the cross-platform build checks, go vet,
# staticcheck, every Go test (unit, end-to-end, real browser pages), the race
# detector and the official MCP conformance suite, ending with one summary
# line. .ci/run installs prerequisites and runs this.
GO ?= go

.PHONY: test unit lint crosscheck conformance bench build dist fuzz test-hydra

test:
	GO=$(GO) RACE_PKGS="$(RACE_PKGS)" bash scripts/test.sh

# Every package and every test builds and vets for Linux, macOS and Windows
# (amd64 and arm64) with CGO_ENABLED=0; nothing runs (scripts/crosscheck.sh).
crosscheck:
	GO=$(GO) bash scripts/crosscheck.sh

# The concurrency-heavy packages run a second time under the race detector.
RACE_PKGS = ./authstore ./callback ./oauth ./manager ./proxy ./api ./config

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	bash e2e/idp/install.sh
	bash e2e/opencode/install.sh
	bash e2e/zitadel/build.sh
	bash e2e/claude/install.sh
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m ./...
	$(GO) test -race -count=1 -timeout 10m $(RACE_PKGS)

conformance:
	bash scripts/conformance.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mcplink ./cmd/mcplink

# Release binaries for six platforms in dist/ with SHA256SUMS, reproducible
# and stamped with version, commit and commit date (scripts/dist.sh).
dist:
	GO=$(GO) bash scripts/dist.sh

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
