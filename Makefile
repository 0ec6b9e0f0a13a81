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
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -MMD -MP -Iinclude -Isrc $(PKG_CFLAGS)
LDFLAGS  += $(SAN)
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

.PHONY: all deps run test unit integration fuzz asan tsan lint format clean bench check-deps
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

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/clusterdns
	@mkdir -p build-fuzz/bin
	@set -e; for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc $(PKG_CFLAGS) \
	    -o build-fuzz/bin/fuzz_$$t tests/fuzz/fuzz_$$t.c -Wl,--start-group $(LIBS:$(BUILD)/%=build-fuzz/%) -Wl,--end-group $(LDLIBS); \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  build-fuzz/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build-fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	done

# ---------------------------------------------------------------- dependencies
DEB_PKGS := build-essential pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev libldns-dev \
            liburcu-dev libyaml-dev libmicrohttpd-dev check libsubunit-dev \
            python3-dnspython python3-pytest python3-yaml python3-kubernetes dnsutils knot-dnsutils iproute2 prometheus
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

test: deps
	$(MAKE) all $(UNIT_BINS) $(FUZZ_REPLAY)
	@$(PYTHON) tests/run_all.py --build $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS) $(FUZZ_REPLAY))
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTHON) tests/run_all.py --build build-asan

lint:
	clang-format --dry-run --Werror $$(find src include tests/unit -name '*.[ch]')
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -Iinclude -Isrc src

format:
	clang-format -i $$(find src include tests/unit -name '*.[ch]')

# Side by side with Knot DNS, NSD and the echo ceiling (bench/README.md); BENCH_ARGS=-q: quick.
bench: $(BUILD)/clusterdns
	CLUSTERDNS=$(abspath $(BUILD)/clusterdns) $(PYTHON) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
