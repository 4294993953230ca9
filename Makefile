# wasmchannel build and test entry points. `make deps` installs what a fresh
# Debian machine lacks; `make test` is the test command CI runs.

GO        ?= go
RUSTC     ?= /usr/bin/rustc
WASM_OUT  ?= wasm/codec.wasm
FUZZTIME  ?=
BIN       ?= bin/wasmchannel
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Debian packages the checks need: Rust for wasm32 (make wasm), clang and wabt
# (make codecs), lz4 (frames from the reference tool in the Rust tests),
# Chromium and Node for the browser tests and the Better Auth reference server,
# PostgreSQL for the tests of the PostgreSQL store (internal/pgtest).
APT_PKGS  = rustc libstd-rust-dev-wasm32 lld clang wabt lz4 chromium nodejs npm postgresql
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   = -X main.version=$(VERSION)

.PHONY: all build run deps test check gotest vet wasm wasm-check codecs cargo-test fuzz bench

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/wasmchannel

## cluster-demo: a throwaway PostgreSQL, a nats-server and three nodes on
## loopback; prints their URLs; Ctrl-C stops them (README, Running a cluster).
.PHONY: cluster-demo
cluster-demo: build nats-server
	NATS_SERVER=$(CURDIR)/$(NATS_BIN) ./$(BIN) cluster-demo

## run: the server on its embedded defaults (./wasmchannel.db, embedded codec, 127.0.0.1:8080).
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/wasmchannel serve

## deps: what a fresh Debian machine lacks for the checks: apt packages (a
## Node.js already on the PATH, as on the build machines, is kept), Go
## modules, and the npm packages of the browser tests and of the Better Auth
## reference server.
deps:
	@missing=""; for p in $(APT_PKGS); do \
		case $$p in nodejs|npm) command -v $$p >/dev/null 2>&1 && continue;; esac; \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(GO) mod download
	@[ -d web/e2e/node_modules ] || npm ci --prefix web/e2e --no-audit --no-fund
	@[ -d testdata/betterauth/node_modules ] || npm ci --prefix testdata/betterauth --no-audit --no-fund
	$(MAKE) -s nats-server

## nats-server: the real NATS server the cluster tests run as a child
## process (internal/natstest), built from its Go module into build/nats
## (gitignored); skipped when already built at NATS_VERSION.
NATS_VERSION ?= v2.15.2
NATS_BIN      = build/nats/nats-server
.PHONY: nats-server
nats-server:
	@if [ -x $(NATS_BIN) ] && $(NATS_BIN) --version 2>/dev/null | grep -q "$(NATS_VERSION)"; then \
		echo "$(NATS_BIN) $(NATS_VERSION) is built"; \
	else \
		echo "building nats-server $(NATS_VERSION) into build/nats"; \
		GOBIN=$(CURDIR)/build/nats $(GO) install github.com/nats-io/nats-server/v2@$(NATS_VERSION); \
	fi

## vet: go vet, staticcheck (pinned; fetched through the module proxy), gofmt
## and cargo fmt.
vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd wasm && cargo fmt --check

## test: the README's test command, and what CI runs: install what is
## missing, then every check.
test: deps check

## check: every check, assuming deps: formatting and vet, the Rust tests, the
## committed WASM modules rebuilt byte for byte, the Go tests under the race
## detector (end to end against real servers, SQLite files and Better Auth),
## short fuzzing, the browser tests and a load smoke run.
check: vet cargo-test wasm-check codecs-check gotest gotest-postgres fuzz fault web-test d1-web-test cluster-web-test bench-load-smoke readme-smoke

gotest:
	$(GO) test -race -count=1 ./...

## gotest-postgres: the end-to-end suite of app/ (chat, reactions, deletes,
## history, auth, abuse, SIGKILL durability) a second time, each test on a
## fresh database of a PostgreSQL cluster it starts itself (internal/pgtest;
## CI=true so a missing PostgreSQL fails instead of skipping). Skipped: the
## tests that never use the suite's store (their own SQLite file, config,
## static checks) and the outage test, which starts its own cluster in gotest.
PG_SKIP = DiskFull|SessionCheckStoreErrors|FuzzRoomPackets|SQLOnlyParameterized|SQLChecker|Flags|ZeroConfig|FaultPostgresOutage
.PHONY: gotest-postgres
gotest-postgres:
	WASMCHANNEL_TEST_STORE=postgres CI=true $(GO) test -race -count=1 -timeout 5m -skip '$(PG_SKIP)' ./app

## fuzz: each fuzz target for a fixed number of executions, seeded from the
## golden corpus. Budgets are counts, not durations: with a duration, Go
## 1.26's coordinator can fail a clean run with "context deadline exceeded"
## when a starved worker misses the deadline (go.dev/issue/75804, fixed in
## Go 1.27). Each count is about 10 s on the 2-core CI machine. FUZZTIME,
## when set (a count such as 2000000x, or a duration), replaces them all.
fuzzrun = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(or $(FUZZTIME),$(3)) ./$(2)
fuzz:
	$(call fuzzrun,FuzzGoDecode,codec,200000x)
	$(call fuzzrun,FuzzFrame,codec,400000x)
	$(call fuzzrun,FuzzDecodeView,codec,200000x)
	$(call fuzzrun,FuzzParseWellFormed,codec,350000x)
	$(call fuzzrun,FuzzDecodeAgree,host,50000x)
	$(call fuzzrun,FuzzRoundTrip,host,40000x)
	$(call fuzzrun,FuzzOriginalAgree,host,50000x)
	$(call fuzzrun,FuzzAuthRoutes,handlers,60000x)
	$(call fuzzrun,FuzzSplit,d1import,80000x)
	$(call fuzzrun,FuzzRoomMsg,cluster,100000x)

## wasm: rebuild the embedded codec reproducibly (see wasm/ABI.md).
# Debian's rustc 1.63 straight on the dependency-free crate, run inside wasm/
# on relative paths with the checkout's path remapped, so the bytes do not
# depend on where the tree lives. Flags and stack size: wasm/README.md.
wasm:
	cd wasm && $(RUSTC) --edition 2021 --crate-type cdylib --crate-name wasmchannel_codec \
		--target wasm32-unknown-unknown -C opt-level=3 -C lto -C panic=abort \
		-C codegen-units=1 -C strip=symbols -C target-feature=+bulk-memory \
		-C link-arg=-zstack-size=16384 --remap-path-prefix=$(CURDIR)/wasm=. \
		-o $(abspath $(WASM_OUT)) src/lib.rs

wasm-check:
	@tmp=$$(mktemp -d); $(MAKE) -s wasm WASM_OUT=$$tmp/codec.wasm && \
	if cmp -s $$tmp/codec.wasm wasm/codec.wasm; then echo "wasm/codec.wasm is reproducible"; rm -rf $$tmp; \
	else echo "wasm/codec.wasm differs from what 'make wasm' builds: rebuild and commit it"; rm -rf $$tmp; exit 1; fi

cargo-test:
	cd wasm && cargo test --quiet

## codecs: rebuild the swapped-in test modules of testdata/codecs (its README
## says what each is). Sources are compiled by relative name from inside the
## folder and without debug info, so the bytes do not depend on where the
## repository lives; CODECS_OUT redirects the output (codecs-check uses it).
CODECS_OUT    ?= .
CODECS_CC     ?= clang
WAT2WASM      ?= wat2wasm
CODECS_CFLAGS  = --target=wasm32-unknown-unknown -O2 -nostdlib -ffreestanding -mbulk-memory \
	-Wall -Wextra -Werror -Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=16384 -Wl,--stack-first
CODECS_WAT     = missing_export wrong_version trap_decode loop_forever grow_memory bad_pointer \
	bindgen_throw bindgen_unknown_import bindgen_wrong_signature bindgen_missing_export

codecs:
	cd testdata/codecs && $(CODECS_CC) $(CODECS_CFLAGS) -o $(CODECS_OUT)/storeonly.wasm storeonly.c
	cd testdata/codecs && $(CODECS_CC) $(CODECS_CFLAGS) -DWC_LENIENT -o $(CODECS_OUT)/lenient.wasm storeonly.c
	cd testdata/codecs && $(CODECS_CC) $(CODECS_CFLAGS) -DWC_POISON -o $(CODECS_OUT)/poison.wasm storeonly.c
	cd testdata/codecs && for m in $(CODECS_WAT); do $(WAT2WASM) $$m.wat -o $(CODECS_OUT)/$$m.wasm || exit 1; done

## codecs-check: fail if the committed test modules differ from a fresh build.
.PHONY: codecs-check
codecs-check:
	@tmp=$$(mktemp -d); $(MAKE) -s codecs CODECS_OUT=$$tmp >/dev/null || { rm -rf $$tmp; exit 1; }; \
	bad=""; for f in $$tmp/*.wasm; do cmp -s $$f testdata/codecs/$$(basename $$f) || bad="$$bad $$(basename $$f)"; done; \
	rm -rf $$tmp; if [ -n "$$bad" ]; then echo "testdata/codecs differs from 'make codecs':$$bad"; exit 1; fi; \
	echo "testdata/codecs/*.wasm are reproducible"

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1s ./codec ./host

## web-test: the web client's browser tests (web/e2e): a freshly built server,
## two users in headless Chromium, a front end on another origin (CORS), and
## the sessions view. Installs Chromium, Node and npm packages when missing.
.PHONY: web-test
WEB_APT = $(if $(wildcard /usr/bin/chromium),,chromium) $(if $(shell command -v node),,nodejs npm)
web-test:
	@if [ -n "$(strip $(WEB_APT))" ]; then \
		echo "installing: $(strip $(WEB_APT))"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(WEB_APT); \
	fi
	@[ -d web/e2e/node_modules ] || npm ci --prefix web/e2e --no-audit --no-fund
	cd web/e2e && timeout 900 sh -c "node --test codec.test.mjs && node --test chat.test.mjs && node --test cors.test.mjs && node --test sessions.test.mjs"

## cluster-web-test: two headless Chromium pages on two nodes of
## `wasmchannel cluster-demo` (PostgreSQL, nats-server) chat, react, type
## and share one presence count (issue 11).
.PHONY: cluster-web-test
cluster-web-test: nats-server
	@[ -d web/e2e/node_modules ] || npm ci --prefix web/e2e --no-audit --no-fund
	cd web/e2e && NATS_SERVER=$(CURDIR)/$(NATS_BIN) timeout 600 node --test cluster.test.mjs

## d1-web-test: the web client on a database made by `import d1` from a
## generated upstream dump: an old password signs in, an upstream cookie
## stays signed in, the history shows with its reactions (headless Chromium).
.PHONY: d1-web-test
d1-web-test:
	@[ -d web/e2e/node_modules ] || npm ci --prefix web/e2e --no-audit --no-fund
	@[ -d testdata/betterauth/node_modules ] || npm ci --prefix testdata/betterauth --no-audit --no-fund
	cd web/e2e && timeout 600 node --test ../../testdata/d1/browser.test.mjs

## bench-load-smoke: a few seconds of WebSocket load with a few dozen clients,
## against the baseline hub and real wasmchannel servers (in-process in the
## loadgen tests, then as child processes through the CLI). Fails if a
## message is lost or duplicated; it asserts nothing about speed.
.PHONY: bench-load-smoke
bench-load-smoke: build
	$(GO) test -count=1 -run 'TestSmoke|TestChild' ./loadgen
	$(BIN) bench load --baseline --codec wasm,go --rooms 2 --clients 15 --senders 3 --rate 0 --duration 2s --drain 5s
	@if [ -x $(PEER_DIR)/centrifugo ]; then \
		$(BIN) bench load --peer centrifugo --peer-bin $(PEER_DIR)/centrifugo --codec wasm --rooms 2 --clients 15 --senders 3 --rate 0 --duration 2s --drain 5s; \
	else echo "bench-load-smoke: Centrifugo not built, peer run skipped (make bench-peer builds it)"; fi

## bench-peer: Centrifugo v6, the peer `bench load --peer centrifugo` compares
## wasmchannel with, built from the Go module proxy into build/peer (ignored
## by git), and the configuration bench load runs it with, written beside it
## for running it by hand (bench load writes a fresh one per run, with its own
## port and secret). Once built, `make bench-load-smoke` includes the peer.
PEER_DIR           = build/peer
CENTRIFUGO_VERSION = v6.9.1
.PHONY: bench-peer
bench-peer: build
	GOBIN=$(CURDIR)/$(PEER_DIR) $(GO) install -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=$(CENTRIFUGO_VERSION:v%=%)" \
		github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)
	$(BIN) bench centrifugo-config > $(PEER_DIR)/config.json
	@echo "$(PEER_DIR)/centrifugo and $(PEER_DIR)/config.json are ready: bin/wasmchannel bench load --peer centrifugo ..."

## fault: the reliability and security tests of issues 7 and 15 under the
## race detector (SIGKILL durability, full disk, hostile packets and bombs,
## oversize frames and fragments, connection caps, slowloris, floods, slow
## readers, sessions, CSRF, Origin, impersonation, secrets in logs, SQL
## safety, the codec pool exhausted, hashing floods, auth quotas and
## lock-outs, redirects, per-user budgets, join churn, violations), with
## the unit tests they build on in hub, handlers, auth and db, then a bounded
## fuzz of a live room. README § Reliability and security maps each case to
## its test. The full-disk test mounts a tmpfs and skips where that is not
## permitted.
FAULT_RUN      = Fault|Abuse|SIGKILL|Slow|SQL|Restart|NeedsSession|ChatEndToEnd|Never500|UnknownEmail|FuzzRoomPackets|RateLimit|InvalidPackets|DeleteOnlyByAuthor|BruteForce|Leaked|TokenNotInDatabase|OnlyTokenHash|Logs|Origin|StillValid|Expir|BodyTooLarge|FuzzAuthRoutes|DiskFull|Poison|Integrity|$(FAULT_RUN_15)
# Issue 15 (TestFault* above, and the unit tests they build on), issue 12's
# deployment checks and the session sweep's store-error rule.
FAULT_RUN_15   = Exhausted|RoomCap|Budget|Violations|Quota|Lockout|CallbackURL|LimitsOff|LimitKey|BusyCosts|Upgrade|SessionCheck|CheckSession|CORS|TrustedProxies|PublicURL|ForwardedClient
# About 20 s of executions; a count for the reason given at fuzz.
FAULT_FUZZTIME ?= 6000x
.PHONY: fault
fault:
	$(GO) test -race -count=1 -timeout 5m -run '$(FAULT_RUN)' ./app ./hub ./handlers ./auth ./db/...
	$(GO) test -count=1 -timeout 5m -run '^$$' -fuzz '^FuzzRoomPackets$$' -fuzztime $(FAULT_FUZZTIME) -fuzzminimizetime 5s ./app

## readme-smoke: run the README's "Talking to it" commands against a fresh
## server, so the README stays true to the code.
.PHONY: readme-smoke
readme-smoke: build
	BIN=$(BIN) bash scripts/readme-smoke.sh
