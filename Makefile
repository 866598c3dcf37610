# The front door. `make` builds upstream Redis 8.0.2 with the Rust AOF linked in;
# `make stock` builds the same tarball unmodified; `make test`, `make run`, `make bench`.
# Every set-up step (apt packages, the upstream tarball, crates) happens here on demand.

SHELL := /bin/bash
ROOT := $(abspath .)
CACHE := $(ROOT)/.cache
TARBALL := $(CACHE)/redis_8.0.2.orig.tar.gz
PATCHED := $(ROOT)/build/patched
STOCK := $(ROOT)/build/stock
RUST_LIB := $(ROOT)/target/release/libredis_aof.a
# The 66 global functions of upstream aof.c.
AOF_SYMBOLS := $(ROOT)/tests/aof-symbols.txt
UPSTREAM_JOBS ?= $(shell nproc)
BINARIES := redis-server redis-cli redis-benchmark redis-check-aof
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
RUNTEST_ARGS ?= --clients 2 --timeout 1200

export REDIS_SRC := $(PATCHED)/src

.PHONY: all patched stock asan test-asan fuzz run test test-cargo test-checks test-differential test-differential-rewrite test-upstream test-full test-full-patched test-full-stock test-reliability test-reliability-short bench setup clean

all: patched

setup:
	@scripts/setup.sh

$(TARBALL):
	@scripts/setup.sh
	scripts/fetch-upstream.sh $@

# An unpacked tree whose deps (jemalloc's generated headers among them) are built: bindgen
# and the C shim need both. The stamp records that the whole step finished.
$(STOCK)/.unpacked: $(TARBALL)
	rm -rf $(STOCK) && mkdir -p $(STOCK)
	tar xzf $(TARBALL) -C $(STOCK) --strip-components=1
	touch $@

$(PATCHED)/.unpacked: $(TARBALL) $(wildcard redis-patch/*.patch)
	@scripts/setup.sh
	rm -rf $(PATCHED) && mkdir -p $(PATCHED)
	tar xzf $(TARBALL) -C $(PATCHED) --strip-components=1
	for p in redis-patch/*.patch; do patch -d $(PATCHED) -p1 --quiet < $$p || exit 1; done
	$(MAKE) -C $(PATCHED)/src .make-prerequisites
	touch $@

# cargo decides itself what is stale; the archive is rebuilt only when a source changed.
$(RUST_LIB): FORCE $(PATCHED)/.unpacked
	cargo build --release --lib

patched: $(RUST_LIB)
	$(MAKE) -C $(PATCHED)/src -j$(UPSTREAM_JOBS) REDIS_AOF_LIB=$(RUST_LIB) $(BINARIES)

# Upstream's AddressSanitizer build (SANITIZER=address, libc malloc) with its own Rust
# archive: the bindings follow that tree's flags, and the layout check proves them.
ASAN := $(ROOT)/build/asan
ASAN_TARGET := $(ROOT)/target/asan
ASAN_LIB := $(ASAN_TARGET)/release/libredis_aof.a

$(ASAN)/.unpacked: $(TARBALL) $(wildcard redis-patch/*.patch)
	@scripts/setup.sh
	rm -rf $(ASAN) && mkdir -p $(ASAN)
	tar xzf $(TARBALL) -C $(ASAN) --strip-components=1
	for p in redis-patch/*.patch; do patch -d $(ASAN) -p1 --quiet < $$p || exit 1; done
	$(MAKE) -C $(ASAN)/src SANITIZER=address .make-prerequisites
	touch $@

$(ASAN_LIB): FORCE $(ASAN)/.unpacked
	REDIS_SRC=$(ASAN)/src CARGO_TARGET_DIR=$(ASAN_TARGET) cargo build --release --lib

asan: $(ASAN_LIB)
	$(MAKE) -C $(ASAN)/src -j$(UPSTREAM_JOBS) SANITIZER=address REDIS_AOF_LIB=$(ASAN_LIB) $(BINARIES)

# The AOF units on the sanitizer build; any ASan report fails the run (runtest checks the
# server logs for sanitizer errors).
test-asan: asan
	$(MAKE) -C $(ASAN)/tests/modules -j$(UPSTREAM_JOBS) SANITIZER=address >/dev/null
	tests/run-upstream-units.sh $(ASAN) $(RUNTEST_ARGS) $(addprefix --single ,$(AOF_UNITS))

stock: $(STOCK)/.unpacked
	$(MAKE) -C $(STOCK)/src -j$(UPSTREAM_JOBS) $(BINARIES)

run: patched
	mkdir -p data
	cd data && $(PATCHED)/src/redis-server --appendonly yes --dir $(ROOT)/data

test: test-cargo test-checks test-differential test-differential-rewrite test-upstream test-reliability-short

test-cargo: patched
	cargo test --release

# Layout, signature and symbol checks against the patched tree.
test-checks: patched
	tests/check-signatures.sh
	tests/check-symbols.sh $(PATCHED)/src/redis-server $(RUST_LIB) $(AOF_SYMBOLS)

# The same command stream into stock and patched: INCR files must be byte-identical.
test-differential: patched stock
	python3 tests/differential_incr.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server

# The same dataset (with a module type) rewritten by stock and patched: equivalent BASE
# files, cross-loadable.
test-differential-rewrite: patched stock
	$(MAKE) -C $(STOCK)/tests/modules blockonkeys.so >/dev/null
	python3 tests/differential_rewrite.py $(STOCK)/src/redis-server $(PATCHED)/src/redis-server \
	    $(STOCK)/tests/modules/blockonkeys.so

test-upstream: patched
	$(MAKE) -C $(PATCHED)/tests/modules -j$(UPSTREAM_JOBS) >/dev/null
	tests/run-upstream-units.sh $(PATCHED) $(RUNTEST_ARGS) $(addprefix --single ,$(AOF_UNITS))

# Upstream's whole suite, then its module API suite, against each build (results and
# counts in build/full-suite/); test-full compares them: every test that passes on stock
# must pass on patched. The two builds' suites use apart port ranges, so they may run at
# the same time (make -j2 test-full).
test-full: test-full-patched test-full-stock
	tests/compare-full-suite.sh
test-full-patched: patched
	tests/run-full-suite.sh $(PATCHED) patched 21111
test-full-stock: stock
	tests/run-full-suite.sh $(STOCK) stock 41111

# Crashes, power loss, full disks and corrupt input against both builds
# (tests/reliability/README.md): the bounded form in make test, the long one here
# (>= 200 kill cycles, about 7 minutes), then short fuzz runs of every target and the AOF
# units on the AddressSanitizer build, each printing its figures. The full-disk part
# mounts a tmpfs (root).
RELIABILITY_FUZZ_SECONDS ?= 20
test-reliability: patched stock
	python3 tests/reliability/run.py --long
	scripts/fuzz.sh $(RELIABILITY_FUZZ_SECONDS)
	$(MAKE) test-asan
test-reliability-short: patched stock
	python3 tests/reliability/run.py --short

# Every cargo-fuzz target for FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
fuzz: patched
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: patched stock
	bench/run.sh $(if $(QUICK),--quick)

clean:
	rm -rf build target

FORCE:
