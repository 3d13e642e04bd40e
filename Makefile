# Front door. Everything real lives in CMake; these targets install the Debian
# packages they need first, so each works on a fresh Debian 12 machine.
JOBS       ?= $(shell nproc)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
PREFIX     ?= /usr/local
CTEST_ARGS ?= -LE slow

.PHONY: all deps build test test-asan test-slow fuzz bench refs data demo install clean

all: build

deps:
	@scripts/install-deps.sh build test

# Order-only on deps: under make -j, cmake must not look for libraries apt is
# still installing (it would cache them as missing).
$(BUILD)/Makefile: CMakeLists.txt | deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

## make test: install packages, build, run every test (slow ones: make test-slow)
# After the run, scripts/test-skips.sh lists the skipped tests with their reasons.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS) --output-junit ctest-junit.xml; \
	  rc=$$?; $(CURDIR)/scripts/test-skips.sh ctest-junit.xml; exit $$rc

test-slow: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --output-junit ctest-junit.xml; \
	  rc=$$?; $(CURDIR)/scripts/test-skips.sh ctest-junit.xml; exit $$rc

## make test-asan: the same suite under AddressSanitizer + UBSan
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMMFUSE_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS) --output-junit ctest-junit.xml; \
	  rc=$$?; $(CURDIR)/scripts/test-skips.sh ctest-junit.xml; exit $$rc

## make fuzz: each libFuzzer harness for FUZZ_SECONDS, seeded by tests/data/fuzz/<name>
fuzz:
	@scripts/install-deps.sh build fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMMFUSE_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

## make refs: regenerate the committed reference outputs with Debian's PyTorch
refs:
	@scripts/install-deps.sh refs
	@scripts/make-refs.sh

## make bench: run the benchmarks and rewrite bench/RESULTS.md
bench: build
	@scripts/install-deps.sh bench
	@cmake -S . -B $(BUILD) >/dev/null   # finds the bench-only packages just installed
	@cmake --build $(BUILD) -j $(JOBS) --target benches
	@bench/run.sh $(BUILD)

## make data: build the emoji data set into data/emoji (docs/data-emoji.md)
data: build
	@scripts/install-deps.sh demo
	@$(BUILD)/mmfuse data emoji --out data/emoji

## make demo: the main job end to end on the emoji data (scripts/demo.sh): packages,
## build, data set, encoders, every fusion operator, retrieval, clustering, captioning,
## VQA; outputs cached in data/demo/, the report in report/index.html
demo:
	@JOBS=$(JOBS) BUILD=$(BUILD) scripts/demo.sh

## make install PREFIX=DIR: library (static + shared), header, CLI, pkg-config file, Python package
install: build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
