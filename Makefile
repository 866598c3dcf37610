# The front door. `make` builds upstream Redis (REDIS_VERSION, default below) with the Rust
# AOF linked in; `make stock` builds the same tarball unmodified; `make test`, `make run`,
# `make bench`, `make install`, `make test-versions`. Every set-up step (apt packages, the
# upstream tarball, crates) happens here on demand.

SHELL := /bin/bash
ROOT := $(abspath .)
CACHE := $(ROOT)/.cache

# The upstream release: REDIS_VERSION=8.0.6 make ... (or make REDIS_VERSION=8.0.6 ...)
# builds and tests that one instead. scripts/redis-versions.tsv is the one table of the
# supported releases (tarball, sha256, the Debian suites that carry it). 8.6.3 is the
# default, the newest release the package registry serves; 8.0.6 stays for the 8.0 line.
DEFAULT_REDIS_VERSION := 8.6.3
REDIS_VERSION ?= $(DEFAULT_REDIS_VERSION)
VERSIONS_TABLE := $(ROOT)/scripts/redis-versions.tsv
SUPPORTED_VERSIONS := $(shell awk -F'\t' '$$1 ~ /^[0-9]/ { print $$1 }' $(VERSIONS_TABLE))
TARBALL_NAME := $(shell awk -F'\t' -v v='$(REDIS_VERSION)' '$$1 == v { print $$2 }' $(VERSIONS_TABLE))
ifeq ($(TARBALL_NAME),)
$(error REDIS_VERSION=$(REDIS_VERSION) is not in scripts/redis-versions.tsv (supported: $(SUPPORTED_VERSIONS)))
endif
TARBALL := $(CACHE)/$(TARBALL_NAME)

# Every version has its own trees and its own cargo target dir (bindgen's output follows
# the tree): build/<version>/{patched,stock,asan}, target/<version>/{patched,asan}.
# build/patched, build/stock and build/asan are links to the default version's trees.
BUILD := $(ROOT)/build/$(REDIS_VERSION)
PATCHED := $(BUILD)/patched
STOCK := $(BUILD)/stock
RUST_TARGET := $(ROOT)/target/$(REDIS_VERSION)/patched
RUST_LIB := $(RUST_TARGET)/release/libredis_aof.a
CARGO := REDIS_SRC=$(PATCHED)/src CARGO_TARGET_DIR=$(RUST_TARGET) cargo
# The global functions of upstream aof.c, per release line: 66 in 8.0, 69 in 8.6.
REDIS_LINE := $(word 1,$(subst ., ,$(REDIS_VERSION))).$(word 2,$(subst ., ,$(REDIS_VERSION)))
AOF_SYMBOLS := $(ROOT)/tests/aof-symbols-$(REDIS_LINE).txt
# The patches to upstream (redis-patch/README.md): those of every release, then those of
# this release line only (redis-patch/<line>/), each set in file-name order. The hooks
# they call (tests/patch-hooks.txt, tests/patch-hooks-<line>.txt) are checked with aof.c's.
PATCHES := $(sort $(wildcard redis-patch/*.patch)) $(sort $(wildcard redis-patch/$(REDIS_LINE)/*.patch))
PATCH_HOOKS := $(ROOT)/tests/patch-hooks.txt $(wildcard $(ROOT)/tests/patch-hooks-$(REDIS_LINE).txt)
UPSTREAM_JOBS ?= $(shell nproc)
BINARIES := redis-server redis-cli redis-benchmark redis-check-aof
PREFIX ?= /usr/local
# Upstream's runtest: the AOF units `make test` runs against the patched build (the four
# AOF units, then those that exercise the write path: WAITAOF, latency events, INFO; the
# rewrite of streams and hash field TTLs; module types' AOF rewrite and loading events;
# FUNCTION LOAD/DELETE/FLUSH, container commands replayed by DEBUG LOADAOF).
AOF_UNITS := integration/aof integration/aof-multi-part integration/aof-race unit/aofrw \
	unit/wait unit/latency-monitor unit/info unit/other \
	unit/type/stream-cgroups unit/type/hash-field-expire \
	unit/moduleapi/datatype unit/moduleapi/datatype2 unit/moduleapi/testrdb \
	unit/moduleapi/hooks unit/moduleapi/propagate unit/moduleapi/misc \
	unit/functions
# 8.6 adds module key metadata (its AOF rewrite test) and atomic slot migration, which
# streams keys through rewriteObject and waits for the rewrite's "keys skipped" line.
ifneq ($(REDIS_LINE),8.0)
AOF_UNITS += unit/moduleapi/keymeta unit/cluster/atomic-slot-migration
endif
RUNTEST_ARGS ?= --clients 2 --timeout 1200

export REDIS_SRC := $(PATCHED)/src
# The Python harnesses (tests/, tests/reliability/, bench/) import their shared library,
# tests/lib/redistest, from here; run by hand they need the same
# (PYTHONPATH=tests/lib python3 tests/edge_cases.py ...).
# (A recursive make inherits it already set: not prepended twice.)
export PYTHONPATH := $(ROOT)/tests/lib$(if $(filter-out $(ROOT)/tests/lib,$(PYTHONPATH)),:$(PYTHONPATH))
# No __pycache__ left in the checkout by the harnesses' imports.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all patched stock asan test-asan fuzz run install test test-cargo test-checks test-release-features test-wrapper-contracts test-differential test-differential-rewrite test-edge-cases test-roundtrip test-load-thread test-rdb-base test-checksum test-upstream test-types-aof test-versions test-full test-full-patched test-full-stock test-reliability test-reliability-short test-reliability-checksum miri fuzz-long bench setup links clean

all: patched

setup:
	@scripts/setup.sh

$(TARBALL):
	@scripts/setup.sh
	scripts/fetch-upstream.sh $(REDIS_VERSION) $@

# build/patched, build/stock, build/asan: links to the default version's trees, for the
# tools and habits that name them (an old-style real directory there is removed).
links:
	@mkdir -p $(ROOT)/build
	@for d in patched stock asan; do \
	    l=$(ROOT)/build/$$d; \
	    if [ -e $$l ] && [ ! -L $$l ]; then echo "build/$$d: replacing the old tree by a link to $(DEFAULT_REDIS_VERSION)/$$d"; rm -rf $$l; fi; \
	    [ "$$(readlink $$l)" = $(DEFAULT_REDIS_VERSION)/$$d ] || ln -sfn $(DEFAULT_REDIS_VERSION)/$$d $$l; \
	done

# An unpacked tree whose deps (jemalloc's generated headers among them) are built: bindgen
# and the C shim need both. The stamp records that the whole step finished.
$(STOCK)/.unpacked: $(TARBALL)
	rm -rf $(STOCK) && mkdir -p $(STOCK)
	tar xzf $(TARBALL) -C $(STOCK) --strip-components=1
	touch $@

$(PATCHED)/.unpacked: $(TARBALL) $(PATCHES)
	@scripts/setup.sh
	rm -rf $(PATCHED) && mkdir -p $(PATCHED)
	tar xzf $(TARBALL) -C $(PATCHED) --strip-components=1
	for p in $(PATCHES); do patch -d $(PATCHED) -p1 --quiet < $$p || exit 1; done
	$(MAKE) -C $(PATCHED)/src .make-prerequisites
	touch $@

# cargo decides itself what is stale; the archive is rebuilt only when a source changed.
$(RUST_LIB): FORCE $(PATCHED)/.unpacked
	$(CARGO) build --release --lib

patched: $(RUST_LIB) | links
	$(MAKE) -C $(PATCHED)/src -j$(UPSTREAM_JOBS) REDIS_AOF_LIB=$(RUST_LIB) $(BINARIES)

# Upstream's `make install` on the patched tree, with the same archive as `make` (nothing
# is rebuilt): redis-server, redis-benchmark and redis-cli into $(PREFIX)/bin, and
# redis-check-rdb, redis-check-aof and redis-sentinel as links to redis-server.
install: patched
	$(MAKE) -C $(PATCHED)/src REDIS_AOF_LIB=$(RUST_LIB) PREFIX=$(PREFIX) install

# Upstream's AddressSanitizer build (SANITIZER=address, libc malloc) with its own Rust
# archive: the bindings follow that tree's flags, and the layout check proves them.
ASAN := $(BUILD)/asan
ASAN_TARGET := $(ROOT)/target/$(REDIS_VERSION)/asan
ASAN_LIB := $(ASAN_TARGET)/release/libredis_aof.a

$(ASAN)/.unpacked: $(TARBALL) $(PATCHES)
	@scripts/setup.sh
	rm -rf $(ASAN) && mkdir -p $(ASAN)
	tar xzf $(TARBALL) -C $(ASAN) --strip-components=1
	for p in $(PATCHES); do patch -d $(ASAN) -p1 --quiet < $$p || exit 1; done
	$(MAKE) -C $(ASAN)/src SANITIZER=address .make-prerequisites
	touch $@

$(ASAN_LIB): FORCE $(ASAN)/.unpacked
	REDIS_SRC=$(ASAN)/src CARGO_TARGET_DIR=$(ASAN_TARGET) cargo build --release --lib

asan: $(ASAN_LIB) | links
	$(MAKE) -C $(ASAN)/src -j$(UPSTREAM_JOBS) SANITIZER=address REDIS_AOF_LIB=$(ASAN_LIB) $(BINARIES)

# The AOF units on the sanitizer build; any ASan report fails the run (runtest checks the
# server logs for sanitizer errors).
test-asan: asan
	$(MAKE) -C $(ASAN)/tests/modules -j$(UPSTREAM_JOBS) SANITIZER=address >/dev/null
	tests/run-upstream-units.sh $(ASAN) $(RUNTEST_ARGS) $(addprefix --single ,$(AOF_UNITS))

stock: $(STOCK)/.unpacked | links
	$(MAKE) -C $(STOCK)/src -j$(UPSTREAM_JOBS) $(BINARIES)

run: patched
	mkdir -p data
	cd data && $(PATCHED)/src/redis-server --appendonly yes --dir $(ROOT)/data

test: test-cargo test-checks test-wrapper-contracts test-differential test-differential-rewrite test-edge-cases test-release-features test-roundtrip test-load-thread test-rdb-base test-checksum test-upstream test-reliability-short

# The pure crate first (it needs no Redis tree), then the staticlib's tests against the
# patched tree, then lint and format over the whole workspace.
test-cargo: patched
	cargo test --release -p redis-aof-core
	$(CARGO) test --release --workspace
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cargo fmt --all --check

# Layout, signature and symbol checks against the patched tree: the layout tests of the
# cargo suite alone (struct sizes and field offsets, C compiler against bindgen), then the
# prototypes, then where each aof.c function of the binary comes from.
test-checks: patched
	$(CARGO) test --release -p redis-aof-glue layout
	tests/check-signatures.sh $(AOF_SYMBOLS) $(PATCH_HOOKS)
	tests/check-symbols.sh $(PATCHED)/src/redis-server $(RUST_LIB) $(AOF_SYMBOLS)

# The dataset wrappers' contracts that rest on upstream behaviour (shared integers,
# listpack and intset integers, stream fields), one exact encoding each, against the real
# server: the command-form BASE must hold exactly the commands the test writes out.
test-wrapper-contracts: patched
	python3 tests/wrapper_contracts.py $(PATCHED)/src/redis-server

# The same command stream into stock and patched: INCR files must be byte-identical.
test-differential: patched stock
	python3 tests/differential_incr.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server

# The same dataset (with a module type) rewritten by stock and patched: equivalent BASE
# files, cross-loadable; and an RDB preamble byte-identical to stock's for the same key
# order.
test-differential-rewrite: patched stock
	$(MAKE) -C $(STOCK)/tests/modules blockonkeys.so >/dev/null
	python3 tests/differential_rewrite.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	    $(STOCK)/tests/modules/blockonkeys.so
	python3 tests/preamble_bytes.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server

# Each divergence from upstream once found (stream integer fields, long values, module
# types without aof_rewrite, MODULE UNLOAD in the file, aof-load-truncated toggled while
# loading, peak loading memory), on both builds.
test-edge-cases: patched stock
	$(MAKE) -C $(STOCK)/tests/modules testrdb.so misc.so >/dev/null
	python3 tests/edge_cases.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	    $(STOCK)/tests/modules

# What 8.4 and 8.6 added to the AOF (corrupt-tail recovery over a matrix of limits and
# layouts, a corrupt tail inside MULTI, idempotent stream producers through a command-form
# rewrite, module key metadata through both rewrite forms), on both builds beside each
# other (tests/release_8_6.py), and atomic slot migration of random datasets of every
# type through rewriteObject between two cluster nodes (tests/slot_migration.py);
# nothing to run on 8.0.
SLOT_MIGRATION_SEEDS ?= 2
test-release-features: patched stock
	@if [ "$(REDIS_LINE)" = 8.0 ]; then echo "release-8.6: not run on Redis $(REDIS_VERSION) (8.0 has none of these)"; \
	else $(MAKE) -C $(STOCK)/tests/modules test_keymeta.so >/dev/null && \
	    python3 tests/release_8_6.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	        --keymeta-module $(STOCK)/tests/modules/test_keymeta.so && \
	    python3 tests/slot_migration.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server --seeds $(SLOT_MIGRATION_SEEDS); fi

# Random datasets over every type and encoding, rewritten, reloaded and restarted on both
# builds in both base forms, and cross-loaded (tests/roundtrip_random.py); ROUNDTRIP_ARGS
# picks the seeds (make test-reliability runs 200).
ROUNDTRIP_ARGS ?=
test-roundtrip: patched stock
	$(MAKE) -C $(STOCK)/tests/modules blockonkeys.so >/dev/null
	python3 tests/roundtrip_random.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	    --module $(STOCK)/tests/modules/blockonkeys.so $(ROUNDTRIP_ARGS)

# The pipelined loader's reading thread on and off (REDIS_AOF_LOAD_THREAD=no): files of
# many batches, clean, short, in a MULTI, cut inside a large argument, bad, must give the
# same dataset, log lines, exit status and files (tests/load_thread.py).
# Then 10 seeds of the randomized round trip with the thread off (make test-roundtrip runs
# it on, the default).
test-load-thread: patched stock
	python3 tests/load_thread.py $(PATCHED)/src/redis-server
	$(MAKE) -C $(STOCK)/tests/modules blockonkeys.so >/dev/null
	REDIS_AOF_LOAD_THREAD=no python3 tests/roundtrip_random.py $(STOCK)/src/redis-server \
	    $(PATCHED)/src/redis-server --module $(STOCK)/tests/modules/blockonkeys.so --seeds 10 --first-seed 500
# An RDB BASE loaded with the reading thread on and off, against stock: clean, cut,
# flipped, bad checksum and lengths, old-style preamble, duplicate and empty keys, a module
# type missing; and the thread's scan of a whole BASE stock wrote (issue #30).
test-rdb-base: patched stock
	$(MAKE) -C $(STOCK)/tests/modules testrdb.so >/dev/null
	cargo build --release -q -p redis-aof-core --example rdb_scan
	python3 tests/rdb_base_load.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	    --module $(STOCK)/tests/modules/testrdb.so --scan target/release/examples/rdb_scan

# Checksummed AOF ranges (aof-checksum, issue #31), beside stock: stock reads the files to
# the same digest, every byte of a small INCR flipped is refused (or, in the last range,
# cut as a torn tail), zero and garbage tails keep every verified key, off is stock's bytes.
test-checksum: patched stock
	python3 tests/checksum.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server

test-upstream: patched
	$(MAKE) -C $(PATCHED)/tests/modules -j$(UPSTREAM_JOBS) >/dev/null
	tests/run-upstream-units.sh $(PATCHED) $(RUNTEST_ARGS) $(addprefix --single ,$(AOF_UNITS))

# Upstream's type units with every server writing a command-form AOF, so every command
# they exercise goes through the Rust write path (and their restarts through the loader).
# Beside stock under the same configs: 8.6.3's "XINFO STREAM iids-added persists in RDB"
# fails on stock itself when the whole unit runs with a command-form AOF (its restart
# replays the unit's command history instead of loading the RDB it saved, and the stream
# comes back tracking no IDMP entries; alone it passes on both), so a test counts against
# patched only when stock passes it.
TYPE_UNITS := unit/type/list unit/type/list-2 unit/type/list-3 unit/type/set unit/type/zset \
	unit/type/hash unit/type/stream unit/type/stream-cgroups unit/type/string unit/type/incr \
	unit/type/hash-field-expire
test-types-aof: patched stock
	tests/run-upstream-units.sh --beside $(STOCK) $(PATCHED) $(RUNTEST_ARGS) --config appendonly yes \
	    --config aof-use-rdb-preamble no $(addprefix --single ,$(TYPE_UNITS))

# Every supported version (one, when REDIS_VERSION is given): built, then the checks, both
# differential tests and the upstream AOF units against it. A failing version does not
# stop the others; the last line names the ones that failed.
VERSION_TESTS := test-checks test-wrapper-contracts test-differential test-differential-rewrite test-edge-cases test-release-features test-roundtrip test-load-thread test-checksum \
	test-upstream
TEST_VERSIONS := $(if $(filter file,$(origin REDIS_VERSION)),$(SUPPORTED_VERSIONS),$(REDIS_VERSION))
test-versions:
	@passed=; failed=; for v in $(TEST_VERSIONS); do \
	    echo "test-versions: Redis $$v"; \
	    if $(MAKE) --no-print-directory REDIS_VERSION=$$v $(VERSION_TESTS); then \
	        passed="$$passed $$v"; else failed="$$failed $$v"; fi; \
	done; \
	echo "test-versions: passed:$${passed:- none}; failed:$${failed:- none}"; \
	[ -z "$$failed" ]

# Upstream's whole suite, then its module API suite, against each build (results and
# counts in build/<version>/full-suite/); test-full compares them: every test that passes
# on stock must pass on patched. The two builds' suites use apart port ranges, so they may
# run at the same time (make -j2 test-full).
export FULL_SUITE_DIR := $(BUILD)/full-suite
test-full: test-full-patched test-full-stock
	tests/compare-full-suite.sh
	$(MAKE) test-types-aof
test-full-patched: patched
	tests/run-full-suite.sh $(PATCHED) patched 21111
test-full-stock: stock
	tests/run-full-suite.sh $(STOCK) stock 41111

# Crashes, power loss, full disks, corrupt input, failing system calls and the crash
# states of a rewrite against both builds (tests/reliability/README.md): the bounded form
# in make test, the long one here (>= 200 kill cycles, the 82-case fault matrix, every
# crash state: about 15 minutes), 200 seeds of the randomized round trip (about 5
# minutes), then 10 million executions of every fuzz target (make fuzz-long) and the AOF
# units on the AddressSanitizer build, each printing its figures. The full-disk part
# mounts a tmpfs (root).
RELIABILITY_BUILDS := --stock $(STOCK)/src --patched $(PATCHED)/src
test-reliability: patched stock
	python3 tests/reliability/run.py --long $(RELIABILITY_BUILDS)
	$(MAKE) test-reliability-checksum
	$(MAKE) test-roundtrip ROUNDTRIP_ARGS="--seeds 200 --first-seed 1000"
	$(MAKE) test-release-features SLOT_MIGRATION_SEEDS=20
	$(MAKE) fuzz-long
	$(MAKE) test-asan
test-reliability-short: patched stock
	python3 tests/reliability/run.py --short $(RELIABILITY_BUILDS)

# kill -9, power loss and every crash state of a rewrite with the patched build writing
# checksummed ranges (aof-checksum yes, issue #31): nothing acknowledged lost, every
# image loads without redis-check-aof (about 80 s; part of make test-reliability).
test-reliability-checksum: patched stock
	REDIS_AOF_PATCHED_CONF="aof-checksum yes" REDIS_AOF_PATCHED_DIR=$(PATCHED)/src \
	    python3 tests/reliability/run.py --short --only kill,powerloss,crashstates $(RELIABILITY_BUILDS)

# Miri over the pure crate's tests (about 6 minutes): Miri needs a nightly toolchain with
# its component; rustup fetches them when the registry is reachable.
miri:
	rustup component add --toolchain nightly miri rust-src >/dev/null
	cd crates/aof-core && cargo +nightly miri test

# Every cargo-fuzz target for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
fuzz: patched
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The bench's peer (scripts/peer-version.tsv: Valkey, from its Debian orig tarball, verified
# by sha256 like Redis's), built once, unmodified, into build/peer (make peer). make bench
# adds it as a third column wherever it can load the same files when build/peer holds it;
# PEER=1 builds it first, PEER=0 leaves it out (bench/README.md).
PEER_TABLE := $(ROOT)/scripts/peer-version.tsv
PEER_TGZ := $(CACHE)/$(shell awk -F'\t' '$$1 !~ /^\#/ && NF >= 6 { print $$4; exit }' $(PEER_TABLE))
PEER_DIR := $(ROOT)/build/peer
.PHONY: peer
peer: $(PEER_DIR)/.built
$(PEER_TGZ):
	@scripts/setup.sh
	scripts/fetch-peer.sh $@
$(PEER_DIR)/.built: $(PEER_TGZ)
	rm -rf $(PEER_DIR) && mkdir -p $(PEER_DIR)
	tar xzf $(PEER_TGZ) -C $(PEER_DIR) --strip-components=1
	$(MAKE) -C $(PEER_DIR) -j$(UPSTREAM_JOBS)
	touch $@
bench: $(if $(filter 1,$(PEER)),peer)
ifeq ($(PEER),0)
export BENCH_PEER :=
endif
# Every cargo-fuzz target for FUZZ_RUNS executions each (libFuzzer's -runs; 10 million by
# default), printing each one's executions and wall time. The targets fuzz the pure crate
# only, so nothing of Redis is built.
FUZZ_RUNS ?= 10000000
fuzz-long:
	scripts/fuzz.sh --runs $(FUZZ_RUNS)

# Stock and patched of the same version, the report names it.
bench: patched stock
	BENCH_STOCK=$(STOCK)/src BENCH_PATCHED=$(PATCHED)/src BENCH_RUST_LIB=$(RUST_LIB) \
	    bench/run.sh $(if $(QUICK),--quick)

clean:
	rm -rf build target

FORCE:
