# idsync — make run starts the engine, make test runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TEMPORAL_CLI_VERSION := v1.5.1
CACHE      := $(CURDIR)/.cache
TEMPORAL   := $(CACHE)/bin/temporal
STATE      := $(CURDIR)/.state
# Every custom search attribute idsync writes (workflows/searchattrs.go);
# TestSearchAttributesRegistered keeps this list and docker-compose.yml in step.
SEARCH_ATTRIBUTES := IdsyncKind=Keyword SyncState=Keyword SourceConnection=Keyword \
	TargetConnection=Keyword SourceType=Keyword TargetType=Keyword ConnectionType=Keyword \
	LastSyncTime=Datetime ConsecutiveFailures=Int FailedObjects=Int

STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRCHECK      := github.com/kisielk/errcheck@v1.30.0
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(TEMPORAL):
	@echo "building the Temporal CLI $(TEMPORAL_CLI_VERSION) once into $(CACHE)/bin (6–9 minutes on 2 cores)…"
	GOBIN=$(CACHE)/bin go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

.PHONY: temporal
temporal: $(TEMPORAL) ## build the pinned Temporal CLI (dev server + Web UI)

testdata/scim-server/node_modules: testdata/scim-server/package-lock.json
	npm ci --prefix testdata/scim-server --no-audit --no-fund
	@touch $@

# WorkOS's published OpenAPI description, which internal/workosfake's
# responses and the workos connector's requests are checked against.
testdata/workos-openapi/node_modules: testdata/workos-openapi/package-lock.json
	npm ci --prefix testdata/workos-openapi --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: $(TEMPORAL) testdata/scim-server/node_modules testdata/workos-openapi/node_modules ## install what the tests need (Temporal CLI, SCIM test server, WorkOS OpenAPI file)
	go mod download

.PHONY: build
# -buildvcs=auto stamps the commit (`worker version`, `starter version`)
# even where GOFLAGS turns it off, and still builds outside a checkout.
build: ## build bin/worker and bin/starter
	go build -buildvcs=auto -o bin/worker ./worker
	go build -buildvcs=auto -o bin/starter ./starter

.PHONY: run
# Where it listens comes from the environment or the command line (see
# dev/run.sh): TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_UI_PORT (8233),
# IDSYNC_WEBHOOK_ADDR (127.0.0.1:8088), TEMPORAL_DB (.state/temporal.db).
run: $(TEMPORAL) build ## run the engine: Temporal dev server (UI :8233), worker, webhook listener (ports: TEMPORAL_ADDRESS, TEMPORAL_UI_PORT, IDSYNC_WEBHOOK_ADDR)
	TEMPORAL=$(TEMPORAL) STATE=$(STATE) SEARCH_ATTRIBUTES="$(SEARCH_ATTRIBUTES)" ./dev/run.sh

.PHONY: peers
peers: testdata/scim-server/node_modules ## run a local OpenLDAP and SCIM server with sample data (quickstart); secrets in .state/peers.env, to source
	go run ./dev/peers --dir $(STATE)/peers

.PHONY: test
test: deps ## run every test (unit, real slapd and SCIM peers, end to end through the dev server)
	IDSYNC_TEMPORAL_CLI=$(TEMPORAL) go test -count=1 -timeout 45m ./...

.PHONY: lint
lint: ## go vet, staticcheck, errcheck, workflowcheck
	go vet ./...
	go run $(STATICCHECK) ./...
	go run $(ERRCHECK) -exclude .errcheck-excludes ./...
	go run $(WORKFLOWCHECK) ./workflows/...

.PHONY: clean
clean: ## remove build output (keeps the Temporal CLI and state)
	rm -rf bin

.PHONY: bench
bench: deps ## run the benchmarks (BENCH_USERS=100000 for the large run); prints a table, writes bench/results.json
	cd bench && IDSYNC_TEMPORAL_CLI=$(TEMPORAL) BENCH_USERS=$${BENCH_USERS:-10000} \
		go test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 60m .
