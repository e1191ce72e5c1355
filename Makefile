# dual-nova: one Makefile for every program, test, sanitizer and fuzz build.
#
#   make            build the release binaries (build/release, plus the contract paths below)
#   make test       install missing Debian packages (as root), build release and ASan+UBSan,
#                   run every suite; last line "N passed, N failed"
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make chaos      the fault suites longer and rougher, both builds (tests/chaos/chaos.sh)
#   make compile_commands.json   for clangd / clang-tidy (needs bear)
#
# SAN=1 selects the ASan+UBSan build (build/asan). Objects and test binaries live under
# $(BUILD); the programs the contract names (tests/bedrock-sim/bedrock-sim) are copied there
# from the release build.

SAN ?= 0
BUILD_ROOT ?= build
ifeq ($(SAN),1)
BUILD := $(BUILD_ROOT)/asan
OPT := -O1
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD := $(BUILD_ROOT)/release
OPT := -O2
SANFLAGS :=
endif

CC ?= cc
CFLAGS := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
          -pthread -D_GNU_SOURCE -Icommon -Itests/lib $(SANFLAGS) -MMD -MP
LDFLAGS := -pthread $(SANFLAGS)
LDLIBS := -lcurl -lcrypto -ljson-c -lz -lm -lhiredis -lsqlite3

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIBNOVA := $(BUILD)/libnova.a

TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)

SIM_SRC := $(wildcard tests/bedrock-sim/*.c)
SIM_OBJ := $(SIM_SRC:%.c=$(BUILD)/%.o)
# Everything of the simulator but its main(), so tests can ask its model what it will say.
SIM_LIB_OBJ := $(filter-out $(BUILD)/tests/bedrock-sim/main.o,$(SIM_OBJ))
SIM_BIN := $(BUILD)/bin/bedrock-sim

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)

TOOLS_SRC := $(wildcard tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:tools/%.c=$(BUILD)/bin/%)

PROGRAMS := $(SIM_BIN) $(TOOLS_BIN)

# novactl (tools/novactl/, one file per command group): the operator's tool.
NOVACTL_SRC := $(wildcard tools/novactl/*.c)
NOVACTL_OBJ := $(NOVACTL_SRC:%.c=$(BUILD)/%.o)
NOVACTL_BIN := $(BUILD)/bin/novactl
PROGRAMS += $(if $(NOVACTL_SRC),$(NOVACTL_BIN))

# nova-worker (workers/): the release build is also copied to workers/nova-worker.
WORKER_SRC := $(wildcard workers/*.c)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
WORKER_BIN := $(BUILD)/bin/nova-worker
PROGRAMS += $(WORKER_BIN) $(if $(filter 1,$(SAN)),,workers/nova-worker)

# nova-fcgi (fcgi-app/): the release build is also copied to fcgi-app/nova-fcgi. Unit tests of
# its pure files (tests/unit/test_<file>.c) link the object they test; the dispatcher's
# integration test links the dispatcher.
FCGI_SRC := $(wildcard fcgi-app/*.c)
FCGI_OBJ := $(FCGI_SRC:%.c=$(BUILD)/%.o)
FCGI_BIN := $(BUILD)/bin/nova-fcgi
FCGI_UNIT := $(patsubst %,$(BUILD)/tests/unit/test_%,plan inbox metrics auth)
PROGRAMS += $(FCGI_BIN) $(if $(filter 1,$(SAN)),,fcgi-app/nova-fcgi)

.PHONY: all build tests deps test fuzz fuzz-build clean
# Objects of test programs are intermediate files to make; keep them for incremental builds.
.SECONDARY:
all: build
ifeq ($(SAN),1)
build: $(PROGRAMS) tests
else
build: $(PROGRAMS) tests tests/bedrock-sim/bedrock-sim
endif
tests: $(UNIT_BIN) $(INTEG_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBNOVA): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(SIM_BIN): $(SIM_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(NOVACTL_BIN): $(NOVACTL_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/bedrock-sim/bedrock-sim: $(SIM_BIN)
	cp $< $@

$(WORKER_BIN): $(WORKER_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

workers/nova-worker: $(WORKER_BIN)
	cp $< $@

$(FCGI_BIN): $(FCGI_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lfcgi

fcgi-app/nova-fcgi: $(FCGI_BIN)
	cp $< $@

$(FCGI_UNIT): $(BUILD)/tests/unit/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/fcgi-app/%.o \
              $(TESTLIB_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/test_shared_text: $(BUILD)/tests/unit/test_shared_text.o \
        $(BUILD)/workers/shared_text.o $(TESTLIB_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/integration/test_fcgi_dispatch: $(BUILD)/tests/integration/test_fcgi_dispatch.o \
        $(BUILD)/fcgi-app/dispatch.o $(BUILD)/fcgi-app/inbox.o $(TESTLIB_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TESTLIB_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(TESTLIB_OBJ) $(SIM_LIB_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps

# The suite: both builds, then every unit test, integration test, fuzz-corpus replay and the
# valgrind pass, summed into one closing line by tests/run.
test: deps
	$(MAKE) SAN=0 build
	$(MAKE) SAN=1 build
	$(MAKE) fuzz-build
	@tests/run build/release build/asan

# Longer and rougher fault runs (tests/chaos/chaos.sh): both builds, about 10 minutes on
# 2 cores; CHAOS_ROUNDS and CHAOS_FUZZ_SECONDS size it.
.PHONY: chaos
chaos: deps
	$(MAKE) SAN=0 build
	$(MAKE) SAN=1 build
	$(MAKE) fuzz-build
	@tests/chaos/chaos.sh build/release build/asan

# The whole stack in the foreground on 127.0.0.1:NOVA_HTTP_PORT (8080) (scripts/nova-run);
# SAN=1 runs the ASan+UBSan binaries.
.PHONY: run
run: deps build
	@$(if $(filter 1,$(SAN)),NOVA_BIN_DIR=$(BUILD)/bin )scripts/nova-run

# libFuzzer targets: clang, ASan+UBSan, coverage-guided; the library is instrumented once
# (fuzzer-no-link) and each target links it. Corpora live in tests/fuzz/corpus/<name>.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD_ROOT)/fuzz/%)
FUZZ_FLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -D_GNU_SOURCE -Icommon \
              -Itests/lib -fno-omit-frame-pointer -MMD -MP
FUZZ_LIB_OBJ := $(COMMON_SRC:%.c=$(BUILD_ROOT)/fuzz/%.o)

fuzz-build: $(FUZZ_BIN)
$(BUILD_ROOT)/fuzz/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(BUILD_ROOT)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c %.o,$^) $(LDLIBS)

fuzz: deps fuzz-build
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$n; \
	  echo "== $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 tests/fuzz/corpus/$$n || exit 1; \
	done

compile_commands.json:
	$(MAKE) clean && bear -- $(MAKE) build

clean:
	rm -rf build tests/bedrock-sim/bedrock-sim

-include $(shell find build -name '*.d' 2>/dev/null)

# The benchmark (tests/bench): nova-load, the load generator, and run-bench, which starts a stack
# with bench settings, drives it at several N against the direct baseline and writes
# build/bench/<profile>/results.{json,md}; both profiles (burst, held) end up in
# build/bench/results.md.
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)
LOAD_BIN := $(BUILD)/bin/nova-load

$(LOAD_BIN): $(BENCH_OBJ) $(LIBNOVA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build: $(LOAD_BIN)  # compiled (with -Werror) by every build, so make test checks it

.PHONY: bench
bench: deps build $(LOAD_BIN)
	@BENCH_PROFILE=burst tests/bench/run-bench $(BUILD)
	@BENCH_PROFILE=held tests/bench/run-bench $(BUILD)
	@cat build/bench/burst/results.md build/bench/held/results.md >build/bench/results.md
