# The two commands for a fresh Debian 12 machine: `make run` and `make test`.
# Every dependency is a Debian package, installed by `make deps`.

DEBIAN_PACKAGES := build-essential cmake pkg-config python3 python3-pandas \
  libfmt-dev libcli11-dev nlohmann-json3-dev libhiredis-dev redis-server \
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev libxxhash-dev clang-format iproute2
JOBS ?= $(shell nproc)

.PHONY: all deps bench-deps build build-asan test test-asan run bench format format-check clean

all: build

deps:
	@scripts/install-deps.sh $(DEBIAN_PACKAGES)

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWC_BENCH=ON >/dev/null
	@cmake --build build -j$(JOBS) -- --no-print-directory

# Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWC_SANITIZE=ON -DWC_BENCH=OFF >/dev/null
	@cmake --build build-asan -j$(JOBS) --target wc_unit_tests wordcount -- --no-print-directory

# The suites labelled `job` (real Redis servers, workers, Sentinels, network namespaces) spend
# most of their time waiting on timers (steal timeouts, failovers, slow workers; user CPU about
# a tenth of their wall time): they run JOB_SUITES at a time, after and apart from the CPU-bound
# tests, whose load would stretch those timers.
JOB_SUITES ?= 3

test: build build-asan format-check
	ctest --test-dir build --output-on-failure -j$(JOBS) -LE job
	ctest --test-dir build --output-on-failure -j$(JOB_SUITES) -L job
	ctest --test-dir build-asan --output-on-failure -j$(JOBS) -L 'unit|cli'

run: build
	@scripts/run.sh

# Only for bench/: gnuplot for the plots, redis-py for the lab's design in Python, and DuckDB
# (npm @duckdb/node-api, version pinned in bench/duckdb/package-lock.json) to compare with.
bench-deps:
	@scripts/install-deps.sh gnuplot-nox python3-redis python3-pandas time
	@command -v npm >/dev/null || scripts/install-deps.sh nodejs npm
	@cd bench/duckdb && npm ci --no-audit --no-fund --loglevel=error

bench: build
	build/count_bench

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

# The tree is clang-formatted (.clang-format, Google-based); `make format` fixes it.
format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h') && echo "clang-format: clean"

clean:
	rm -rf build build-asan
