# kmm - convenience front end over meson/ninja.
#
#   make / make build   configure build/ (meson) if needed and build
#   make run            build, then ./build/kmm run (pictures in
#                       build/kmm-run.svg and build/kmm-run.html)
#   make test           build, run the suite, last line "N passed, N failed"
#   make asan           build-asan/: ASan + UBSan, run the suite
#   make tsan           build-tsan/: TSan, run the tests of suite 'threads'
#   make freestanding   the core + src/port/none with -ffreestanding
#                       (gcc in build/, and clang in build-clang/ if present)
#   make install        meson install (prefix /usr/local unless PREFIX=...)
#   make bench          build, run the benchmarks
#   make soak           build, run the mixed stress test for SOAK_SECONDS
#                       (300) with SOAK_THREADS (8) CPU threads
#   make clean          remove every build directory
#   make fuzz           build-fuzz/fuzz_model: the model-based libFuzzer
#                       target (clang, -fsanitize=fuzzer,address,undefined)
#   make fuzz-ci        run it FUZZTIME seconds (60) over fuzz/corpus; new
#                       inputs go to build-fuzz/corpus-new, not the repo
#
# Every target that builds first runs scripts/deps.sh, which installs
# missing Debian packages when run as root and otherwise prints the exact
# apt-get command.
#
# Variables: BUILD (build), MESON, NINJA, PREFIX, TESTARGS (extra arguments
# for `meson test`, e.g. TESTARGS='--suite unit'), BENCHARGS (for kmm bench).

SHELL := /bin/bash
MAKEFLAGS += --no-print-directory

MESON ?= meson
NINJA ?= ninja
BUILD ?= build
PREFIX ?= /usr/local
TESTARGS ?=
BENCHARGS ?=

ASAN_DIR := build-asan
TSAN_DIR := build-tsan
CLANG_DIR := build-clang

# Files whose presence the meson files test with fs.exists(): when one
# appears or disappears the build directory is reconfigured.
LAYOUT = $(sort $(wildcard tools/kmm.c tools/meson.build tests/meson.build \
		bench/meson.build docs/man/*.[1-9] include/linux))

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=report_objects=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$(CURDIR)/tests/tsan.supp

# $(call configure,DIR,MESON-SETUP-ARGS[,ENV]): set up DIR, or reconfigure it
# when the layout changed.  A directory left without build.ninja by a failed
# setup is started afresh.
define configure
	@if [ ! -f $(1)/build.ninja ]; then \
		rm -rf $(1); \
		out=$$($(3) $(MESON) setup $(1) --prefix=$(PREFIX) $(2) 2>&1) || \
		{ echo "$$out" >&2; echo "meson setup $(1) failed" >&2; exit 1; }; \
	elif [ "$$(cat $(1)/.kmm-layout 2>/dev/null)" != "$(LAYOUT)" ]; then \
		out=$$($(MESON) setup --reconfigure $(1) 2>&1) || \
		{ echo "$$out" >&2; echo "meson setup --reconfigure $(1) failed" >&2; exit 1; }; \
	fi; \
	echo "$(LAYOUT)" > $(1)/.kmm-layout
endef

.PHONY: all build deps run test asan tsan freestanding install bench soak clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(call configure,$(BUILD),)
	@$(NINJA) -C $(BUILD)

run: build
	@./$(BUILD)/kmm run --map $(BUILD)/kmm-run

# `meson test` runs every test binary; scripts/summarize-tests.sh adds up the
# test cases (Criterion's Synthesis lines) and prints the final line.
test: build
	@rm -f $(BUILD)/meson-logs/testlog.json; rc=0; \
	$(MESON) test -C $(BUILD) --print-errorlogs $(TESTARGS) || rc=$$?; \
	bash scripts/summarize-tests.sh $(BUILD) $$rc

asan: deps
	$(call configure,$(ASAN_DIR),-Db_sanitize=address$(comma)undefined -Db_lundef=false -Dc_args=-fno-omit-frame-pointer)
	@$(NINJA) -C $(ASAN_DIR)
	@rm -f $(ASAN_DIR)/meson-logs/testlog.json; rc=0; \
	$(ASAN_ENV) $(MESON) test -C $(ASAN_DIR) --print-errorlogs --timeout-multiplier 4 $(TESTARGS) || rc=$$?; \
	bash scripts/summarize-tests.sh --sanitizer $(ASAN_DIR) $$rc

# TSan maps its shadow at fixed addresses; if the host randomises mmap
# more than the runtime tolerates, run the tests without ASLR when allowed.
tsan: deps
	$(call configure,$(TSAN_DIR),-Db_sanitize=thread -Db_lundef=false -Dc_args=-fno-omit-frame-pointer)
	@$(NINJA) -C $(TSAN_DIR)
	@if ! $(MESON) introspect --tests $(TSAN_DIR) | grep -q ':threads"'; then \
		echo "tsan: no test is in suite 'threads'; built only"; \
		echo "0 passed, 0 failed"; exit 0; \
	fi; \
	norand=; if setarch $$(uname -m) -R true 2>/dev/null; then norand="setarch $$(uname -m) -R"; fi; \
	rm -f $(TSAN_DIR)/meson-logs/testlog.json; rc=0; \
	$(TSAN_ENV) $$norand $(MESON) test -C $(TSAN_DIR) --suite threads --print-errorlogs --timeout-multiplier 4 $(TESTARGS) || rc=$$?; \
	bash scripts/summarize-tests.sh --sanitizer $(TSAN_DIR) $$rc

freestanding: deps
	$(call configure,$(BUILD),)
	@$(MESON) compile -C $(BUILD) kmm-freestanding >/dev/null || $(MESON) compile -C $(BUILD) kmm-freestanding
	@bash scripts/check-freestanding.sh $(BUILD)/libkmm-freestanding.a
	@if command -v clang >/dev/null; then \
		$(MAKE) freestanding-clang; \
	fi

.PHONY: freestanding-clang
freestanding-clang:
	$(call configure,$(CLANG_DIR),,CC=clang)
	@$(MESON) compile -C $(CLANG_DIR) kmm-freestanding >/dev/null || $(MESON) compile -C $(CLANG_DIR) kmm-freestanding
	@bash scripts/check-freestanding.sh $(CLANG_DIR)/libkmm-freestanding.a

# After a real (not DESTDIR-staged) install as root, refresh the dynamic
# linker's cache so programs find libkmm.so.0 at once.
install: build
	@$(MESON) install -C $(BUILD)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
		ldconfig; \
	fi

# The program's `kmm bench` runs the benchmarks of bench/ (BENCHARGS, e.g.
# BENCHARGS=--quick, are passed on); without the program, meson's
# benchmark() targets run instead.
bench: build
	@if [ -x ./$(BUILD)/kmm ]; then \
		./$(BUILD)/kmm bench $(BENCHARGS); \
	else \
		$(MESON) test -C $(BUILD) --benchmark --verbose; \
	fi

# The soak: tests/test_stress_mixed.c in rounds (validated between rounds)
# until SOAK_SECONDS have passed; KMM_TEST_SEED=N repeats a run.
SOAK_SECONDS ?= 300
SOAK_THREADS ?= 8
soak: deps
	$(call configure,$(BUILD),)
	@$(NINJA) -C $(BUILD) tests/test_stress_mixed
	@KMM_STRESS_SECONDS=$(SOAK_SECONDS) KMM_STRESS_THREADS=$(SOAK_THREADS) \
		./$(BUILD)/tests/test_stress_mixed

# ---- fuzz --------------------------------------------------------------------
#
# The library is built by meson in build-fuzz/ with clang, ASan + UBSan and
# -fsanitize=fuzzer-no-link (coverage for libFuzzer); only libkmm.a is
# needed there.  fuzz/fuzz_model.c is then linked with -fsanitize=fuzzer
# (Debian's libclang-rt-14-dev).  fuzz-ci runs it for FUZZTIME seconds over
# the committed seed corpus (fuzz/corpus, from fuzz/make_corpus.py) and ends
# with the executions and executions per second.
FUZZ_DIR := build-fuzz
FUZZTIME ?= 60
FUZZ_CC ?= clang
FUZZ_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: fuzz fuzz-ci
fuzz: deps
	$(call configure,$(FUZZ_DIR),-Db_sanitize=address$(comma)undefined -Db_lundef=false '-Dc_args=-fno-omit-frame-pointer -fsanitize-coverage=inline-8bit-counters$(comma)pc-table',CC=$(FUZZ_CC))
	@$(NINJA) -C $(FUZZ_DIR) libkmm.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iinclude -Isrc/port/linux fuzz/fuzz_model.c \
		$(FUZZ_DIR)/libkmm.a $$(pkg-config --libs liburcu-bp) -lpthread -o $(FUZZ_DIR)/fuzz_model

fuzz-ci: fuzz
	@rm -rf $(FUZZ_DIR)/corpus-new $(FUZZ_DIR)/fuzz-ci.log; mkdir -p $(FUZZ_DIR)/corpus-new
	@rc=0; $(FUZZ_ENV) ./$(FUZZ_DIR)/fuzz_model -max_total_time=$(FUZZTIME) -max_len=512 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
		$(FUZZ_DIR)/corpus-new fuzz/corpus > $(FUZZ_DIR)/fuzz-ci.log 2>&1 || rc=$$?; \
	grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz-ci.log | tail -n 40; \
	grep -E '^#[0-9]+.*cov:' $(FUZZ_DIR)/fuzz-ci.log | tail -n 1; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz-ci.log); \
	rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(FUZZ_DIR)/fuzz-ci.log); \
	echo "fuzz-ci: $${execs:-?} executions, $${rate:-?} exec/s, $$(ls fuzz/corpus | wc -l) seed inputs, exit $$rc"; \
	exit $$rc

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(TSAN_DIR) $(CLANG_DIR) $(FUZZ_DIR)

# A literal comma for use inside $(call ...) arguments.
comma := ,
