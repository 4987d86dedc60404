# Thin wrapper over CMake. `make run` and `make test` do all set-up on a
# fresh Debian 12 machine: missing packages, configure, build.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build build-asan build-fuzz run test test-release test-asan test-fuzz fuzz bench \
	memcheck chaos soak install format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKEEL_SANITIZE=ON $(CMAKE_ARGS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	@mkdir -p var
	@echo "keel: starting keeld -c conf/keel.yaml (Ctrl-C stops it)"
	@echo "keel: open http://$${KEEL_LISTEN:-127.0.0.1:8080}/  (health: /healthz, metrics: /metrics)"
	@exec $(BUILD)/bin/keeld -c conf/keel.yaml

# The whole suite, then the same suite under ASan+UBSan, then ~20 s of
# each fuzz target.
test: test-release test-asan test-fuzz

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: build-asan
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# libFuzzer targets (tests/fuzz): a separate clang configuration that builds
# nothing else. `make fuzz` runs each target FUZZ_SECONDS (default 300) on a
# scratch copy of its seed corpus, after its checked-in regressions; crash
# inputs stay in $(FUZZ_BUILD)/fuzz-runs/<target>/artifacts/.
$(FUZZ_BUILD)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DKEEL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		$(CMAKE_ARGS)

build-fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: build-fuzz
	@bash tests/fuzz/run_all.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(JOBS)

test-fuzz: build-fuzz
	@bash tests/fuzz/run_all.sh $(FUZZ_BUILD) 20 $(JOBS)

bench: build
	@bash scripts/install-deps.sh bench
	@bash tests/bench/run.sh $(BUILD)

# Unit tests and the integration tests that are not timing-sensitive, with
# keeld under valgrind memcheck (tests/tools/memcheck.cmake); reports in
# $(BUILD)/memcheck.
memcheck: build
	@bash scripts/install-deps.sh memcheck
	@bash tests/tools/memcheck.sh $(BUILD)

# Long forms of the chaos and soak tests (ctest runs the short ones:
# integration.chaos_short, integration.soak_short). KEEL_CHAOS_STORE=lmdb
# runs the chaos against conf/keel.yaml instead of conf/dynamodb.yaml.
CHAOS_SECONDS ?= 600
SOAK_SECONDS  ?= 3600
KEEL_TEST_ENV = KEELD=$(abspath $(BUILD))/bin/keeld KEEL_TEST_PLUGIN_DIR=$(abspath $(BUILD))/tests/plugins \
	KEEL_SOURCE_DIR=$(CURDIR)

chaos: build
	$(KEEL_TEST_ENV) KEEL_CHAOS_SECONDS=$${KEEL_CHAOS_SECONDS:-$(CHAOS_SECONDS)} \
	  KEEL_CHAOS_DEADLINE=$${KEEL_CHAOS_DEADLINE:-300} bash tests/chaos/chaos.sh

soak: build
	$(KEEL_TEST_ENV) KEEL_SOAK_SECONDS=$${KEEL_SOAK_SECONDS:-$(SOAK_SECONDS)} bash tests/soak/soak.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
