# Thin wrapper over CMake. `make run` and `make test` are the README's two commands.
BUILD      ?= build
JOBS       ?= $(shell nproc)
THREADS    ?= $(shell nproc)
APT_PACKAGES := cmake g++ make libtorch-dev libopenblas-dev libgtest-dev libbenchmark-dev \
                libcli11-dev nlohmann-json3-dev libfmt-dev bible-kjv zlib1g-dev chromium libgloo-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build test run demo bench format clean

# Installs only the Debian packages that are missing (needs root or sudo).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

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

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
