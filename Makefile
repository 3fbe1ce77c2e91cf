# Thin wrapper over CMake. `make run` and `make test` are the README's two commands.
BUILD      ?= build
JOBS       ?= $(shell nproc)
THREADS    ?= $(shell nproc)
APT_PACKAGES := cmake g++ make libtorch-dev libopenblas-dev libgtest-dev libbenchmark-dev \
                libcli11-dev nlohmann-json3-dev bible-kjv zlib1g-dev chromium libgloo-dev \
                python3-torch python3-numpy python3-dev pybind11-dev python3-pytest libdnnl-dev
FUZZ_PACKAGES := clang libfuzzer-14-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build test run demo bench format clean check-sanitize fuzz python torch2

# Installs only the Debian packages of $(1) that are missing (needs root or sudo).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make $@: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make $@: all Debian packages present"; fi
endef

deps:
	$(call apt_install,$(APT_PACKAGES))

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# `import steepest` (python/): the extension and the package in $(BUILD)/python;
# use it with PYTHONPATH=$(BUILD)/python. `make test` builds and tests it too.
python: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target steepest_python -j $(JOBS)
	@echo "make python: PYTHONPATH=$(abspath $(BUILD))/python python3 -c 'import steepest'"

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# ASan + UBSan build of the library, the CLI and the tests in $(SAN_BUILD), then its ctest.
# Reports go to files under $(SAN_LOGS), not stderr: a report in a child process (CLI
# tests, distributed ranks, bench runs) that is expected to fail would otherwise pass
# unseen; any file there fails the target. The options also cover the build, whose gtest
# discovery runs the instrumented test binary. LDFLAGS: install.find_package's consumer
# links the instrumented static library, so it needs the sanitizer runtimes too.
SAN_BUILD ?= build-sanitize
SAN_LOGS   = $(abspath $(SAN_BUILD))/sanitizer-logs
SAN_ENV    = ASAN_OPTIONS=log_path=$(SAN_LOGS)/asan:log_exe_name=1:check_initialization_order=1:detect_stack_use_after_return=1 \
             UBSAN_OPTIONS=log_path=$(SAN_LOGS)/ubsan:log_exe_name=1:print_stacktrace=1:halt_on_error=1 \
             LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0
SAN_REPORT = if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
               for f in $(SAN_LOGS)/*; do echo "=== $$f"; cat "$$f"; done; \
               echo "check-sanitize: sanitizer reports above"; exit 1; fi
# SAN_CTEST_EXCLUDE: end-to-end runs of the CLI that the plain ctest runs too
# and that take longest instrumented (392 s of 2307 on a 2-core AMD EPYC,
# 2026-12-07); every library and unit test still runs under ASan + UBSan.
# Tests that need an excluded test's fixture go too: ctest -E does not add
# an excluded fixture setup back, so they would read files never written.
# -g1 (line tables) keeps reports' file:line at a cheaper build than -g.
SAN_CTEST_EXCLUDE ?= ^(KillResume\.TwentyRandomKills.*|BenchInterrupted\..*|bench\.(smoke_suite|sweep_smoke|lr_search|report_in_browser|sweep_report_in_browser)|cli\.train_eval_sample|install\.find_package)$$
check-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DSTEEPEST_SANITIZE=ON -DSTEEPEST_BUILD_BENCHMARKS=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
	rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
	$(SAN_ENV) cmake --build $(SAN_BUILD) -j $(JOBS) || { $(SAN_REPORT); exit 1; }
	cd $(SAN_BUILD) && $(SAN_ENV) \
	  LDFLAGS="-fsanitize=address,undefined,float-cast-overflow -static-libasan -static-libubsan" \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -E '$(SAN_CTEST_EXCLUDE)'; rc=$$?; \
	  $(SAN_REPORT); exit $$rc

# libFuzzer targets (tests/fuzz/README.md): an instrumented build with clang in
# build-fuzz, each target FUZZ_SECONDS on a scratch copy of its seed corpus;
# fails when any target finds a crash. FUZZ_TARGETS entries are name:max_len.
# FUZZ_SEED fixes libFuzzer's random seed (CI: one seed, so that a finding
# reproduces); empty, each run explores anew.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SEED    ?=
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= $(JOBS)
FUZZ_TARGETS ?= fuzz_shard:4096 fuzz_npy:8192 fuzz_train_config:4096 fuzz_bench_suite:4096 \
                fuzz_checkpoint:65536 fuzz_spectra_jsonl:8192 fuzz_results_summary:8192
fuzz: deps
	$(call apt_install,$(FUZZ_PACKAGES))
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Release -DSTEEPEST_FUZZ=ON \
	  -DSTEEPEST_BUILD_TESTS=OFF -DSTEEPEST_BUILD_BENCHMARKS=OFF -DSTEEPEST_BUILD_APPS=OFF
	cmake --build $(FUZZ_BUILD) --target fuzz_targets -j $(JOBS)
	FUZZ_SEED=$(FUZZ_SEED) tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# The main job: train the default GPT with Muon on the King James Bible, then sample it.
RUN_DIR ?= runs/default
run: deps build
	$(BUILD)/steepest data prepare --default
	$(BUILD)/steepest train --out $(RUN_DIR) --overwrite --threads $(THREADS)
	@echo "--- sample (steepest sample --run $(RUN_DIR) --prompt 'And God said') ---"
	@$(BUILD)/steepest sample --run $(RUN_DIR) --prompt "And God said" --tokens 300 --top-k 40

demo: deps build
	$(BUILD)/steepest orthogonalize --demo --threads $(THREADS)

bench: deps build
	$(BUILD)/bench_orthogonalize --threads $(THREADS) --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true --benchmark_counters_tabular=true

# The build on PyTorch 2.x from PyPI (issue #26), beside the default one. The one pin:
# torch 2.15.0, the newest 2.x on PyPI on 2026-12-07, whose wheel installs here
# (a CUDA 13.2 build that also runs on the CPU: MKL, oneDNN 3.13, C++20
# headers); numpy, pybind11 (torch bundles 3.1.0's headers) and pytest as
# they then were. cmake/configure_torch2.sh says why its flags are needed.
TORCH2_PIN    := torch==2.15.0 numpy==2.4.6 pybind11==3.1.0 pytest==9.2.0
TORCH2_VENV   ?= .venv-torch2
TORCH2_BUILD  ?= build-torch2
TORCH2_PYTHON ?= python3
$(TORCH2_VENV)/.pinned: Makefile
	$(call apt_install,python3-venv)
	$(TORCH2_PYTHON) -m venv $(TORCH2_VENV)
	$(TORCH2_VENV)/bin/pip install --quiet --disable-pip-version-check $(TORCH2_PIN)
	echo "$(TORCH2_PIN)" > $@
$(TORCH2_BUILD)/CMakeCache.txt: $(TORCH2_VENV)/.pinned
	cmake/configure_torch2.sh $(TORCH2_VENV) $(TORCH2_BUILD)
torch2: deps $(TORCH2_BUILD)/CMakeCache.txt
	cmake --build $(TORCH2_BUILD) -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
