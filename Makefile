# shmbus: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need on a fresh machine (see scripts/setup.sh).

CARGO ?= cargo
DEMO_SECONDS ?= 10
export DEMO_SECONDS

.PHONY: demo test setup build fmt-check clippy test-rust test-python test-node test-c test-interop \
	test-readme test-loom doc test-sweep bench sweep clean \
	bench-gateway test-bench-gateway build-gateway-bench test-bridge-long test-bridge-kills test-browser \
	bench-bridge test-bench-bridge build-bridge-bench fuzz test-fuzz

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release -p shmbus-cli

demo: build
	./target/release/shmbus demo --seconds $(DEMO_SECONDS)

test: setup fmt-check clippy test-rust test-python test-node test-c test-interop test-readme test-loom doc test-sweep \
	test-bench-gateway test-bench-bridge test-browser test-fuzz
	@echo "make test: all checks passed"

fmt-check:
	bash scripts/ci/fmt.sh

clippy:
	bash scripts/ci/clippy.sh

test-rust:
	bash scripts/ci/test.sh

# The bindings: each script installs what it needs (a venv in .venv, npm packages, Debian
# packages when missing), builds the binding and runs its tests.
test-python:
	bash scripts/ci/python.sh

test-node:
	bash scripts/ci/node.sh

test-c:
	bash scripts/ci/c.sh

# Every language writes, every language reads (tests/interop/SPEC.md), and the golden files.
test-interop:
	bash scripts/ci/interop.sh

# The dashboard in a real browser (Debian's chromium + playwright-core, installed by setup.sh):
# a real gateway over a real feed; bounded, well under 2 minutes.
test-browser:
	bash scripts/ci/browser.sh

test-readme:
	bash scripts/ci/readme.sh

test-loom:
	bash scripts/ci/loom.sh

doc:
	bash scripts/ci/doc.sh

# The adversarial sweep of the CLI (corrupted regions, hostile names and arguments, closed and full
# stdout, FIFOs, kill -9): a table of runs and failures, non-zero on any failure. A few minutes;
# `make sweep SWEEP_ARGS=--quick` is the short version, `SWEEP_ARGS="--seed N"` repeats a run.
SWEEP_ARGS ?=
# make test runs the quick version (under a minute).
test-sweep: build
	python3 scripts/sweep/sweep.py --shmbus target/release/shmbus --quick --seed 1

sweep: build
	python3 scripts/sweep/sweep.py --shmbus target/release/shmbus $(SWEEP_ARGS)

bench: build
	$(CARGO) bench -p shmbus --bench slots --bench journal --bench candles --bench readers
	./target/release/shmbus bench latency --runs 3
	./target/release/shmbus bench throughput --preset
	bash scripts/ci/python.sh >/dev/null && .venv/bin/python bindings/python/bench.py
	bash scripts/ci/node.sh >/dev/null && node bindings/node/bench.js

# The gateway benchmark (crates/shmbus-gateway-bench): `shmbus serve` against the WebSocket
# transport floor and a Redis pub/sub relay in the same run, fan-out to 100 clients, peak rate to
# one. About 3 minutes; needs redis-server (scripts/setup.sh installs it). make test runs the
# quick version (well under a minute) so that it cannot rot.
GATEWAY_BENCH_ARGS ?=
build-gateway-bench: setup
	$(CARGO) build --release -p shmbus-cli -p shmbus-gateway-bench

bench-gateway: build-gateway-bench
	./target/release/shmbus-gateway-bench $(GATEWAY_BENCH_ARGS)

test-bench-gateway: build-gateway-bench
	timeout 120 ./target/release/shmbus-gateway-bench --quick

# The bridge benchmark (crates/shmbus-bridge-bench): `shmbus bridge out|in` (JetStream and
# --core) against plain async-nats publishers and consumers on the same nats-server, in the same
# run. About 10 minutes; needs nats-server (scripts/setup.sh installs it). make test runs the
# quick version (about 20 s) so that it cannot rot.
BRIDGE_BENCH_ARGS ?=
build-bridge-bench: setup
	$(CARGO) build --release -p shmbus-cli -p shmbus-bridge-bench

bench-bridge: build-bridge-bench
	./target/release/shmbus-bridge-bench $(BRIDGE_BENCH_ARGS)

test-bench-bridge: build-bridge-bench
	timeout 90 ./target/release/shmbus-bridge-bench --quick

clean:
	$(CARGO) clean

# `shmbus bridge` with 1,000,000 mixed-size messages through a real nats-server (make test runs
# the same test with 20,000).
test-bridge-long: build
	SHMBUS_BRIDGE_MESSAGES=1000000 $(CARGO) test --release -p shmbus-cli --test bridge round_trip -- --nocapture

# kill -9 of `bridge out` 20 times and of `bridge in` 20 times at seeded random points while a
# writer appends (make test runs 6 of each); SHMBUS_BRIDGE_SEED=N replays a run's points.
test-bridge-kills: build
	SHMBUS_BRIDGE_KILLS=20 $(CARGO) test --release -p shmbus-cli --test bridge_chaos kill_9 -- --nocapture

# The fuzz targets (fuzz/, cargo-fuzz on stable with RUSTC_BOOTSTRAP=1; scripts/ci/fuzz.sh installs
# cargo-fuzz when missing): each target FUZZ_SECONDS (default 600) from the seed corpus and the
# working corpus in fuzz/target/corpus; executions go to fuzz/target/fuzz-runs.tsv. make test runs
# each for 8 s (48 s of fuzzing; the first build takes a few minutes).
FUZZ_SECONDS ?= 600
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/ci/fuzz.sh

test-fuzz:
	FUZZ_SECONDS=8 bash scripts/ci/fuzz.sh
