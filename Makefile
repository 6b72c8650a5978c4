# flinkop: `make run` builds and runs the dry-run of the bundled example; `make test` runs every test.
# Both install the Debian packages that are missing first (tools/deps.sh).

CC      ?= cc
PKGS    := lua5.4 libcurl libcjson yaml-0.1 openssl
# Debian's libev-dev ships no pkg-config file; use one if a newer package does.
EV_CFLAGS := $(shell pkg-config --cflags libev 2>/dev/null)
EV_LIBS   := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS)) $(EV_CFLAGS)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) $(EV_LIBS) -lm

WARN     := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS   ?= -O2 -g
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CORE_SRCS := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_HDRS := $(wildcard core/*.h)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

BUILD   := build
REL_OBJS  := $(CORE_SRCS:core/%.c=$(BUILD)/rel/%.o)
ASAN_OBJS := $(CORE_SRCS:core/%.c=$(BUILD)/asan/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/%)

.PHONY: all deps build run test unit policy-tests golden badinput valgrind-test bench clean
all: build

deps:
	@tools/deps.sh

build: $(BUILD)/flinkop

# The release binary (valgrind runs this one: valgrind and ASan do not mix).
$(BUILD)/flinkop: $(REL_OBJS) $(BUILD)/rel/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/rel/%.o: core/%.c $(CORE_HDRS) | $(BUILD)/rel
	$(CC) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The sanitizer build the tests use.
$(BUILD)/asan/flinkop: $(ASAN_OBJS) $(BUILD)/asan/main.o
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PKG_LIBS)

$(BUILD)/asan/%.o: core/%.c $(CORE_HDRS) | $(BUILD)/asan
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/asan/test_%: tests/unit/test_%.c $(ASAN_OBJS) $(CORE_HDRS) | $(BUILD)/asan
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -Icore -o $@ $< $(ASAN_OBJS) $(PKG_LIBS) -lcmocka

$(BUILD)/rel $(BUILD)/asan:
	@mkdir -p $@

run:
	@tools/deps.sh --build-only
	@$(MAKE) --no-print-directory build
	$(BUILD)/flinkop --dry-run --script-dir . -f examples/basic.yaml

test:
	@tools/deps.sh
	@$(MAKE) --no-print-directory unit policy-tests golden badinput example-policies valgrind-test cluster-test

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

# The default policies' own `tests` tables, run in the real sandbox.
policy-tests: $(BUILD)/asan/flinkop
	@$(BUILD)/asan/flinkop check --script-dir .

golden: $(BUILD)/asan/flinkop
	@tests/golden.sh $(BUILD)/asan/flinkop

badinput: $(BUILD)/asan/flinkop
	@tests/bad_input.sh $(BUILD)/asan/flinkop

# The example site policies (examples/policies/), assembled as their README says, checked and previewed.
.PHONY: example-policies
example-policies: $(BUILD)/asan/flinkop
	@tests/example_policies.sh $(BUILD)/asan/flinkop

valgrind-test: $(BUILD)/flinkop
	@tests/valgrind.sh $(BUILD)/flinkop

# The suites that need the real control plane, run against one cluster that is always stopped afterwards.
CLUSTER_TESTS := tests/cluster-suites.sh tests/cluster_test.sh tests/transport_test.sh tests/daemon_test.sh \
                 tests/leader_test.sh tests/rbac_test.sh tests/policy_reload_test.sh tests/resilience_test.sh \
                 tests/plan_test.sh tests/deploy_test.sh tests/watch_scope_test.sh tests/access_test.sh \
                 tests/daemon_exec_test.sh tests/flink_rest_test.sh tests/flink_session_job_test.sh \
                 tests/flink_actions_test.sh tests/examples_test.sh tests/daemon_valgrind_test.sh
include tests/cluster/cluster.mk

# Figures, not tests: the daemon's footprint against a private control plane (bench/README.md).
bench: $(BUILD)/flinkop
	@tools/deps.sh
	@$(CLUSTER_WITH) bench/daemon_footprint.sh
cluster-test: $(BUILD)/asan/flinkop $(BUILD)/flinkop

clean:
	rm -rf $(BUILD)
