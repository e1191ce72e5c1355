# dual-nova: one Makefile for every program, test, sanitizer and fuzz build.
#
#   make            build the release binaries (build/release, plus the contract paths below)
#   make test       install missing Debian packages (as root), build release and ASan+UBSan,
#                   run every suite; last line "N passed, N failed"
#   make unit       build and run the unit tests alone (release build), in seconds
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make chaos      the fault suites longer and rougher, both builds (tests/chaos/chaos.sh)
#   make bench      the benchmark (tests/bench/run-bench)
#   make compile_commands.json   for clangd / clang-tidy (needs bear)
#
# SAN=1 selects the ASan+UBSan build (build/asan). Objects, libraries and test binaries live
# under $(BUILD); the programs the contract names (tests/bedrock-sim/bedrock-sim,
# fcgi-app/nova-fcgi, workers/nova-worker) are copied there from the release build.
#
# Libraries. common/ is one folder per concern, each its own archive (libnova-<folder>.a):
# core (helpers every program needs), redis (connections, the contract, the job and event
# wire format), aws (SigV4, event stream, credentials, the Bedrock client), product (request
# validation, language, glossary, prompts, prices) and kb (the local knowledge base). Every
# program's objects except its main.o form an archive too (libprog-<name>.a), and so do
# tests/lib and the simulator, so a unit test, an integration test or a fuzz target of any
# file links without a rule of its own: tests/unit/test_<x>.c and tests/fuzz/fuzz_<x>.c are
# found by wildcard and linked against every archive (the linker takes what they use). The
# programs themselves link only the libraries they use: nova-fcgi has no AWS code.

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
WARN := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
BASE_CFLAGS := -std=gnu11 -g $(WARN) -pthread -D_GNU_SOURCE -Icommon -MMD -MP
CFLAGS := $(BASE_CFLAGS) $(OPT) $(SANFLAGS)
# Test code (tests/**) may also include the test helpers and any program's headers.
TEST_CFLAGS := $(CFLAGS) -Itests/lib -I.
LDFLAGS := -pthread $(SANFLAGS)
SYSLIBS := -lcurl -lssl -lcrypto -ljson-c -lz -lm -lhiredis -lsqlite3
TEST_SYSLIBS := $(SYSLIBS) -lfcgi

# ---- the libraries of common/ ---------------------------------------------------------------
# In link order: a library comes before the ones it uses.
COMMON_LIBS := kb product aws redis core
lib_of = $(BUILD)/libnova-$(1).a
$(foreach l,$(COMMON_LIBS),$(eval $(l)_SRC := $(wildcard common/$(l)/*.c)))
$(foreach l,$(COMMON_LIBS),$(eval $(l)_OBJ := $($(l)_SRC:%.c=$(BUILD)/%.o)))
$(foreach l,$(COMMON_LIBS),$(eval $(call lib_of,$(l)): $($(l)_OBJ)))

# ---- program and test archives --------------------------------------------------------------
# name:folder:main. Each folder's *.c but its main form libprog-<name>.a.
PROG_DIRS := fcgi:fcgi-app:main.c worker:workers:main.c novactl:tools/novactl:main.c \
             sim:tests/bedrock-sim:main.c bench:tests/bench:load.c testlib:tests/lib:-
prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir = $(word 2,$(subst :, ,$(1)))
prog_main = $(word 3,$(subst :, ,$(1)))
prog_lib = $(BUILD)/libprog-$(1).a
define prog_template
$(1)_DIR := $(2)
$(1)_SRC := $$(filter-out $(2)/$(3),$$(wildcard $(2)/*.c))
$(1)_OBJ := $$($(1)_SRC:%.c=$$(BUILD)/%.o)
$(1)_MAIN := $$(patsubst %.c,$$(BUILD)/$(2)/%.o,$$(filter %.c,$(3)))
$$(call prog_lib,$(1)): $$($(1)_OBJ)
endef
$(foreach p,$(PROG_DIRS),$(eval $(call prog_template,$(call prog_name,$(p)),$(call prog_dir,$(p)),$(call prog_main,$(p)))))
PROG_LIBS := $(foreach p,$(PROG_DIRS),$(call prog_lib,$(call prog_name,$(p))))

$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

# ---- objects --------------------------------------------------------------------------------
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# ---- programs -------------------------------------------------------------------------------
# What each program links, besides its own archive.
FCGI_USES := kb product redis core
WORKER_USES := aws redis core
NOVACTL_USES := kb product redis core
SIM_USES := kb product aws core
TOOL_USES := aws core
BENCH_USES := aws redis core
uses = $(foreach l,$(1),$(call lib_of,$(l)))

FCGI_BIN := $(BUILD)/bin/nova-fcgi
WORKER_BIN := $(BUILD)/bin/nova-worker
NOVACTL_BIN := $(BUILD)/bin/novactl
SIM_BIN := $(BUILD)/bin/bedrock-sim
LOAD_BIN := $(BUILD)/bin/nova-load
TOOLS_SRC := $(wildcard tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:tools/%.c=$(BUILD)/bin/%)
PROGRAMS := $(FCGI_BIN) $(WORKER_BIN) $(NOVACTL_BIN) $(SIM_BIN) $(LOAD_BIN) $(TOOLS_BIN)

$(FCGI_BIN): $(fcgi_MAIN) $(call prog_lib,fcgi) $(call uses,$(FCGI_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS) -lfcgi
$(WORKER_BIN): $(worker_MAIN) $(call prog_lib,worker) $(call uses,$(WORKER_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
$(NOVACTL_BIN): $(novactl_MAIN) $(call prog_lib,novactl) $(call uses,$(NOVACTL_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
$(SIM_BIN): $(sim_MAIN) $(call prog_lib,sim) $(call prog_lib,testlib) $(call uses,$(SIM_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
# nova-load (tests/bench/load.c is its main): the load generator of make bench.
$(LOAD_BIN): $(bench_MAIN) $(call prog_lib,bench) $(call prog_lib,worker) \
             $(call prog_lib,testlib) $(call uses,$(BENCH_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
$(BUILD)/bin/%: $(BUILD)/tools/%.o $(call uses,$(TOOL_USES))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)

fcgi-app/nova-fcgi: $(FCGI_BIN)
	cp $< $@
workers/nova-worker: $(WORKER_BIN)
	cp $< $@
tests/bedrock-sim/bedrock-sim: $(SIM_BIN)
	cp $< $@

# ---- tests ----------------------------------------------------------------------------------
# Every test links every archive: programs' first, then the test helpers, then common/.
ALL_LIBS := $(PROG_LIBS) $(call uses,$(COMMON_LIBS))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
# Evals (tests/eval/<name>.c): suites that measure a quality over a fixed data set, no servers.
EVAL_SRC := $(wildcard tests/eval/*.c)
EVAL_BIN := $(EVAL_SRC:tests/eval/%.c=$(BUILD)/tests/eval/%)

$(UNIT_BIN) $(INTEG_BIN) $(EVAL_BIN): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(TEST_SYSLIBS)

.PHONY: all build tests deps test unit fuzz fuzz-build clean chaos run bench
# Objects of test programs are intermediate files to make; keep them for incremental builds.
.SECONDARY:
all: build
tests: $(UNIT_BIN) $(INTEG_BIN) $(EVAL_BIN)
ifeq ($(SAN),1)
build: $(PROGRAMS) tests
else
build: $(PROGRAMS) tests fcgi-app/nova-fcgi workers/nova-worker tests/bedrock-sim/bedrock-sim
endif

deps:
	@scripts/install-deps

# The suite: both builds, then every unit test, integration test, fuzz-corpus replay and the
# valgrind pass, summed into one closing line by tests/run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(MAKE) -j$(JOBS) SAN=0 build
	$(MAKE) -j$(JOBS) SAN=1 build
	$(MAKE) -j$(JOBS) fuzz-build
	@tests/run build/release build/asan

# The unit tests alone, release build: seconds.
unit:
	@$(MAKE) -s --no-print-directory -j$(JOBS) SAN=0 $(UNIT_BIN:$(BUILD_ROOT)/asan/%=$(BUILD_ROOT)/release/%)
	@TESTS_ONLY=unit tests/run build/release

# Longer and rougher fault runs (tests/chaos/chaos.sh): both builds, about 10 minutes on
# 2 cores; CHAOS_ROUNDS and CHAOS_FUZZ_SECONDS size it.
chaos: deps
	$(MAKE) -j$(JOBS) SAN=0 build
	$(MAKE) -j$(JOBS) SAN=1 build
	$(MAKE) -j$(JOBS) fuzz-build
	@tests/chaos/chaos.sh build/release build/asan

# The whole stack in the foreground on 127.0.0.1:NOVA_HTTP_PORT (8080) (scripts/nova-run);
# SAN=1 runs the ASan+UBSan binaries.
run: deps build
	@$(if $(filter 1,$(SAN)),NOVA_BIN_DIR=$(BUILD)/bin )scripts/nova-run

# ---- fuzzing --------------------------------------------------------------------------------
# libFuzzer targets: clang, ASan+UBSan, coverage-guided. Every library (common/, the programs'
# archives, the test helpers) is instrumented once (fuzzer-no-link) and each target links them
# all. Corpora live in tests/fuzz/corpus/<name>.
FUZZ_SECONDS ?= 60
FUZZ := $(BUILD_ROOT)/fuzz
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ)/%)
FUZZ_FLAGS := $(BASE_CFLAGS) -O1 -Itests/lib -I. -fno-omit-frame-pointer
FUZZ_LIB_SRC := $(foreach l,$(COMMON_LIBS),$($(l)_SRC)) \
                $(foreach p,$(PROG_DIRS),$($(call prog_name,$(p))_SRC))
FUZZ_LIBS := $(foreach p,$(PROG_DIRS),$(FUZZ)/libprog-$(call prog_name,$(p)).a) \
             $(foreach l,$(COMMON_LIBS),$(FUZZ)/libnova-$(l).a)
$(foreach l,$(COMMON_LIBS),$(eval $(FUZZ)/libnova-$(l).a: $($(l)_SRC:%.c=$(FUZZ)/%.o)))
$(foreach p,$(PROG_DIRS),$(eval $(FUZZ)/libprog-$(call prog_name,$(p)).a: \
    $($(call prog_name,$(p))_SRC:%.c=$(FUZZ)/%.o)))

$(FUZZ)/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^
$(FUZZ)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIBS) $(TEST_SYSLIBS)

fuzz-build: $(FUZZ_BIN)
fuzz: deps fuzz-build
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$n; \
	  echo "== $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 tests/fuzz/corpus/$$n || exit 1; \
	done

compile_commands.json:
	$(MAKE) clean && bear -- $(MAKE) build

clean:
	rm -rf build tests/bedrock-sim/bedrock-sim fcgi-app/nova-fcgi workers/nova-worker

-include $(shell find $(BUILD_ROOT) -name '*.d' 2>/dev/null)

# ---- the benchmark --------------------------------------------------------------------------
# tests/bench: nova-load, the load generator, and run-bench, which starts a stack with bench
# settings, drives it at several N against the direct baseline (and, in the chat profile,
# beside a peer gateway) and writes build/bench/<profile>/results.{json,md}; the profiles
# (burst, held, chat, kill; issue 15's held15 and wait) end up in build/bench/results.md and results.json.
BENCH_PROFILES := burst held chat kill held15 wait
bench: deps build
	@for p in $(BENCH_PROFILES); do BENCH_PROFILE=$$p tests/bench/run-bench $(BUILD) || exit 1; done
	@cat $(BENCH_PROFILES:%=build/bench/%/results.md) >build/bench/results.md
	@{ sep='{'; for p in $(BENCH_PROFILES); do printf '%s"%s": ' "$$sep" $$p; \
	   cat build/bench/$$p/results.json; sep=','; done; echo '}'; } >build/bench/results.json
