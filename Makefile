# clusterdns — plain Makefile (see ../shared/DESIGN.md §6).
#
#   make            release build: build/clusterdns
#   make deps       install missing Debian packages (apt-get, as root)
#   make run        deps, build, serve the demo in zones/ on 127.0.0.1:1053
#   make test       deps, unit suites, fuzz-corpus replay, integration; ends with a summary line
#   make asan       the same tests under ASan+UBSan (build-asan/)
#   make lint       clang-format check, cppcheck, clang-tidy
#   make format     clang-format -i

CC      ?= gcc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3

PKGS     := libuv libcurl libcjson ldns liburcu-qsbr yaml-0.1 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
OPT      ?= -O2 -g
SAN      ?=
# GCC on x86-64 expands a memcpy or memset whose length it knows only as a range (a name of up
# to 255 octets) as `rep movsq`/`rep stosq`, which takes tens of cycles to start: the question's
# name copied at parse and again into the answer held a third of read_question's samples and
# two thirds of begin's. glibc's memcpy does such a copy in a few vector moves. Constant small
# copies stay inline either way. Only where the compiler takes the flag (bench/RESULTS.md).
STRINGOP := $(shell $(CC) -mstringop-strategy=libcall -x c -c /dev/null -o /dev/null 2>/dev/null && echo -mstringop-strategy=libcall)
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(STRINGOP) $(SAN) $(WARN) -MMD -MP -Iinclude -Isrc $(PKG_CFLAGS)
LDFLAGS  += $(SAN) -Wl,--as-needed
LDLIBS   += $(PKG_LIBS) -lpthread -lm

# Modules in layer order (DESIGN.md §2): a module may use only those to its left.
MODULES  := base dns store config k8s metrics pipeline plugins net http

define module_srcs
$(shell find src/$(1) -name '*.c' 2>/dev/null | sort)
endef
ALL_SRCS := $(foreach m,$(MODULES),$(call module_srcs,$(m)))
ALL_OBJS := $(ALL_SRCS:%.c=$(BUILD)/obj/%.o)
LIBS     := $(foreach m,$(MODULES),$(BUILD)/lib/lib$(m).a)
LINK_LIBS = -Wl,--start-group $(LIBS) -Wl,--end-group

UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)
FUZZ_SECONDS ?= 60

.PHONY: all deps run test unit integration fuzz asan asan-unit tsan soak lint format clean bench check-deps
all: $(BUILD)/clusterdns

Q ?= @
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

define module_lib
$(BUILD)/lib/lib$(1).a: $(patsubst %.c,$(BUILD)/obj/%.o,$(call module_srcs,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$(Q)ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_lib,$(m))))

$(BUILD)/clusterdns: $(BUILD)/obj/src/main.o $(LIBS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LINK_LIBS) $(LDLIBS)

# Each tests/unit/<module>/test_<file>.c is one Check runner, linked against its module's library
# and those to its left only, so a module's tests build while modules to its right are in flux.
upto = $(firstword $(1)) $(if $(filter $(2),$(firstword $(1))),,$(call upto,$(wordlist 2,99,$(1)),$(2)))
define unit_rule
$(BUILD)/unit/$(1)/%: tests/unit/$(1)/%.c $(foreach m,$(call upto,$(MODULES),$(1)),$(BUILD)/lib/lib$(m).a) tests/unit/check_main.h
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(CFLAGS) -Itests/unit $$(LDFLAGS) -o $$@ $$< -Wl,--start-group $(foreach m,$(call upto,$(MODULES),$(1)),$(BUILD)/lib/lib$(m).a) -Wl,--end-group $$(LDLIBS) $$(shell pkg-config --libs check)
endef
$(foreach m,$(MODULES),$(eval $(call unit_rule,$(m))))

# The fuzz targets linked with a plain main() that replays corpus files (every build), and with
# clang's libFuzzer for `make fuzz`.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay.c $(LINK_LIBS) $(LDLIBS)

# make fuzz [FUZZ_SECONDS=N] [FUZZ_RUN="query watch"] [FUZZ_FLAGS=-jobs=2]: the libraries with
# -fsanitize=fuzzer-no-link into build-fuzz/, every tests/fuzz/fuzz_<t>.c linked with libFuzzer,
# ASan and UBSan (build-fuzz/bin/), then each target (or those in FUZZ_RUN) run for N seconds at
# nice 10 (FUZZ_SECONDS=0: build only). New inputs go to build-fuzz/corpus/<t>, crashes to
# build-fuzz/crash/<t>/; tests/fuzz/README.md says how to minimise and commit them.
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" $(LIBS:$(BUILD)/%=build-fuzz/%)
	@mkdir -p build-fuzz/bin
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "  LD      build-fuzz/bin/fuzz_$$t"; \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(WARN) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc $(PKG_CFLAGS) \
	    -o build-fuzz/bin/fuzz_$$t tests/fuzz/fuzz_$$t.c \
	    -Wl,--start-group $(LIBS:$(BUILD)/%=build-fuzz/%) -Wl,--end-group $(LDLIBS); \
	done
	@set -e; if [ "$(FUZZ_SECONDS)" != 0 ]; then for t in $(or $(FUZZ_RUN),$(FUZZ_TARGETS)); do \
	  mkdir -p build-fuzz/corpus/$$t build-fuzz/crash/$$t; \
	  dict=""; if [ -f tests/fuzz/$$t.dict ]; then dict="-dict=tests/fuzz/$$t.dict"; fi; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  nice -n 10 build-fuzz/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	    -artifact_prefix=build-fuzz/crash/$$t/ $(FUZZ_FLAGS) build-fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	done; fi

# ---------------------------------------------------------------- dependencies
DEB_PKGS := build-essential pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev libldns-dev \
            liburcu-dev libyaml-dev libmicrohttpd-dev check libsubunit-dev \
            python3-dnspython python3-pytest python3-yaml python3-kubernetes dnsutils knot-dnsutils iproute2 prometheus \
            clang-format cppcheck clang-tidy dnsperf strace
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

run: deps
	$(MAKE) all
	./$(BUILD)/clusterdns -conf zones/Corefile

# ---------------------------------------------------------------- tests
unit: $(UNIT_BINS) $(FUZZ_REPLAY)
	@$(PYTHON) tests/run_all.py --build $(BUILD) --skip-integration

integration: $(BUILD)/clusterdns
	cd tests/integration && CLUSTERDNS=$(abspath $(BUILD)/clusterdns) $(PYTHON) -m pytest -q -p no:cacheprovider .

# CI: lint first (cheap, fails fast), the unit suites and corpus replay under ASan+UBSan+LSan, then
# the release build's whole suite (its 60 s soak included).
test: deps
	$(MAKE) lint
	$(MAKE) asan-unit
	$(MAKE) all $(UNIT_BINS) $(FUZZ_REPLAY)
	@$(PYTHON) tests/run_all.py --build $(BUILD)

# ASan+UBSan with LSan on (detect_leaks=1; LSan is part of ASan on x86-64 Linux); any report aborts
# the process, so a unit runner or the server under an integration test fails its test. In the
# full run the reports also go to build-asan/reports/, so a server that leaks or trips UBSan at
# exit (after its test looked) still fails the target.
ASAN_MAKE := $(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
ASAN_ENV  := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan: deps
	$(ASAN_MAKE) all $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS) $(FUZZ_REPLAY))
	@rm -rf build-asan/reports && mkdir -p build-asan/reports
	@r=$(abspath build-asan/reports); st=0; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$$r/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$$r/ubsan \
	  $(PYTHON) tests/run_all.py --build build-asan || st=1; \
	if ls $$r/* >/dev/null 2>&1; then cat $$r/*; echo "asan: sanitizer reports (above)"; st=1; fi; exit $$st

asan-unit:
	$(ASAN_MAKE) $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS) $(FUZZ_REPLAY))
	$(ASAN_ENV) $(PYTHON) tests/run_all.py --build build-asan --skip-integration

# ThreadSanitizer over what runs on several threads at once: the unit suites that start threads
# (net workers start/stop, metrics summed while workers count, pipelines published under readers
# and scrapes: tests/unit/net/test_concurrency.c), then the integration tests that reload, publish
# snapshots (objects file, API watch), share the cache and scrape /metrics while queries flow,
# against the TSan binary. (plugins/test_cache replaces malloc, which TSan's start-up cannot
# survive; its seqlock runs here through test_cache.py.) Reports go to build-tsan/reports/; any
# report fails the target. tests/tsan.supp lists what is silenced, and why.
TSAN_UNITS := net/test_net net/test_concurrency metrics/test_metrics
TSAN_ITESTS := test_reload.py test_objects_reload.py test_metrics.py test_cache.py test_watch.py \
	  test_tcp_abuse.py test_hostile.py
tsan: deps
	$(MAKE) BUILD=build-tsan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=thread" \
	  build-tsan/clusterdns $(TSAN_UNITS:%=build-tsan/unit/%)
	@rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	@set -e; export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 \
	  suppressions=$(abspath tests/tsan.supp) log_path=$(abspath build-tsan/reports)/tsan"; \
	for t in $(TSAN_UNITS); do echo "tsan unit $$t"; CK_FORK=no build-tsan/unit/$$t; done; \
	cd tests/integration && CLUSTERDNS=$(abspath build-tsan/clusterdns) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(TSAN_ITESTS)
	@if ls build-tsan/reports/tsan* >/dev/null 2>&1; then cat build-tsan/reports/tsan*; \
	  echo "tsan: data races reported (above)"; exit 1; fi
	@echo "tsan: clean"

# The 10-minute soak under churn (tests/soak/soak.py; SOAK_SECONDS to change it). Its 60 s version
# runs in `make test` as tests/integration/test_soak.py.
SOAK_SECONDS ?= 600
soak: $(BUILD)/clusterdns
	CLUSTERDNS=$(abspath $(BUILD)/clusterdns) $(PYTHON) tests/soak/soak.py --seconds $(SOAK_SECONDS)

# clang-format, cppcheck, then clang-tidy with .clang-tidy on every source file; each file's
# clang-tidy result is kept as a stamp (build/tidy/), so a re-run checks only what changed.
TIDY_SRCS   := $(ALL_SRCS) src/main.c
TIDY_STAMPS := $(TIDY_SRCS:%.c=$(BUILD)/tidy/%.ok)
TIDY_HDRS   := $(wildcard include/cdns/*.h src/*/*.h src/plugins/*/*.h) src/plugins/plugins.def
$(BUILD)/tidy/%.ok: %.c .clang-tidy $(TIDY_HDRS)
	@mkdir -p $(dir $@)
	@echo "  TIDY    $<"
	$(Q)clang-tidy --quiet $< -- -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) 2>/dev/null && touch $@

lint:
	clang-format --dry-run --Werror $$(find src include tests/unit -name '*.[ch]')
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -Iinclude -Isrc src
	$(MAKE) -j$$(nproc) $(TIDY_STAMPS)

format:
	clang-format -i $$(find src include tests/unit -name '*.[ch]')

# Side by side with Knot DNS, NSD and the echo ceiling (bench/README.md); BENCH_ARGS=-q: quick.
bench: $(BUILD)/clusterdns
	CLUSTERDNS=$(abspath $(BUILD)/clusterdns) $(PYTHON) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build build-asan build-fuzz build-tsan

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
