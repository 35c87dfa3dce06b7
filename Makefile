# SPDX-License-Identifier: Apache-2.0
# bpfmesh build. `make` builds; `make test` installs what it needs, builds and
# runs every test; `make demo` runs the canary demo; `make vmtest` runs the
# kernel tests on a second kernel under QEMU; `make bench` runs benchmarks.

OUTPUT  := .output
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

PKG_LIBS := libbpf yaml-0.1
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
INCLUDES := -Iinclude -Iuser -I$(OUTPUT)
LIBS     := -lbpf -lelf -lz -lyaml -lpthread

# Unit tests run under ASan and UBSan.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS       := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# user/ holds one directory per concern (README: layout); a new directory is
# picked up without touching this file.
USER_HDRS   := $(wildcard user/*/*.h)
POLICY_SRCS := $(wildcard user/policy/*.c)
LIB_SRCS    := $(filter-out user/cli/main.c,$(wildcard user/*/*.c))
LIB_OBJS    := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(OUTPUT)/unit/%,$(UNIT_SRCS))
UNIT_OBJS   := $(patsubst %.c,$(OUTPUT)/san/%.o,$(POLICY_SRCS) \
		$(wildcard user/apply/*.c) user/kern/probe.c user/kern/map_ops.c user/kern/rcu_wait.c \
		user/kern/lb_read.c)
# Stable workload identity ids (issue 15): pure, unit-tested.
UNIT_OBJS   += $(OUTPUT)/san/user/agent/identity_ids.o
# The Kubernetes reload debounce (k8schange): pure, unit-tested.
UNIT_OBJS   += $(OUTPUT)/san/user/agent/debounce.o
KTEST_SRCS  := $(wildcard tests/kern/*.c tests/kern/prog_tests/*.c)
# Metrics (issue 9): Prometheus text writer and the libmicrohttpd server
# (in LIB_SRCS through the user/*/*.c wildcard; unit-tested too).
METRICS_SRCS := $(wildcard user/metrics/*.c)
UNIT_OBJS    += $(patsubst %.c,$(OUTPUT)/san/%.o,$(METRICS_SRCS))
LIBS         += -lmicrohttpd
UNIT_LIBS    := -lyaml -lbpf -lcmocka -lmicrohttpd
# Kubernetes discovery (issue 16): libcurl for HTTP, json-c for JSON; the
# sources come in through the user/*/*.c wildcard.
K8S_SRCS     := $(wildcard user/k8s/*.c)
UNIT_OBJS    += $(patsubst %.c,$(OUTPUT)/san/%.o,$(K8S_SRCS))
# The recorded API server the discovery tests run against (tests/k8s/).
UNIT_OBJS    += $(OUTPUT)/san/tests/k8s/fakeapi.o
KTEST_SRCS   += tests/k8s/fakeapi.c
# Its HTTPS mode checks client certificates with GnuTLS (libmicrohttpd's TLS).
FAKEAPI_LIBS := -lgnutls
UNIT_LIBS    += $(FAKEAPI_LIBS)
LIBS         += -lcurl -ljson-c
UNIT_LIBS    += -lcurl -ljson-c

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test unit kern demo vmtest bench install uninstall clean

all: $(OUTPUT)/bpfmesh $(OUTPUT)/test_kern $(UNIT_BINS)

# Debian packages the build and the tests need, installed by name.
# python3 and curl: the README's "try it yourself" walk-through, which a
# kernel test runs as written. apt's own progress stays visible: on a slow
# mirror the download can take minutes.
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev \
	    libcmocka-dev pkg-config iproute2 gcc make python3 curl \
	    libmicrohttpd-dev python3-prometheus-client valgrind libclang-rt-14-dev \
	    libcurl4-openssl-dev libjson-c-dev libgnutls28-dev openssl
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing (apt-get output follows)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

$(OUTPUT) $(OUTPUT)/unit:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/lib/*.h include/bpfmesh/*.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ \
		-Wall -Werror -Iinclude -Iinclude/bpfmesh -Ibpf -I$(OUTPUT) -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

# Test-only BPF programs (tests/kern/progs): skeletons for the kernel tests.
KTEST_BPF_SRCS := $(wildcard tests/kern/progs/*.bpf.c)
KTEST_SKELS    := $(patsubst tests/kern/progs/%.bpf.c,$(OUTPUT)/%.skel.h,$(KTEST_BPF_SRCS))
$(OUTPUT)/%.bpf.o: tests/kern/progs/%.bpf.c $(wildcard tests/kern/progs/*.h bpf/lib/*.h \
		include/bpfmesh/*.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ \
		-Wall -Werror -Iinclude -Iinclude/bpfmesh -Ibpf -I$(OUTPUT) -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/obj/%.o: %.c $(SKELS) $(wildcard include/bpfmesh/*.h) $(USER_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -c $< -o $@

$(OUTPUT)/bpfmesh: $(OUTPUT)/obj/user/cli/main.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

# Kernel tests: run as root, drive the real agent binary.
$(OUTPUT)/test_kern: $(KTEST_SRCS) $(wildcard tests/kern/*.h) $(LIB_OBJS) $(OUTPUT)/bpfmesh \
		$(KTEST_SKELS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itests/kern $(KTEST_SRCS) $(LIB_OBJS) $(LIBS) $(FAKEAPI_LIBS) -lm -o $@

# Unit tests: no root, no kernel, sanitizers on.
$(OUTPUT)/san/%.o: %.c $(wildcard include/bpfmesh/*.h) $(USER_HDRS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -g $(SAN) $(WARN) $(INCLUDES) -c $< -o $@

$(OUTPUT)/unit/%: tests/unit/%.c $(UNIT_OBJS) $(wildcard tests/unit/*.h) $(USER_HDRS) | $(OUTPUT)/unit
	$(call msg,LINK,$@)
	$(Q)$(CC) -O1 -g $(SAN) $(WARN) $(INCLUDES) -Itests/unit $< $(UNIT_OBJS) $(UNIT_LIBS) -o $@

# The CLI tests run the binary itself (tests/unit/test_cli.c).
$(OUTPUT)/unit/test_cli: $(OUTPUT)/bpfmesh

unit: $(UNIT_BINS)
	$(Q)tests/run_unit.sh $(UNIT_BINS)

kern: $(OUTPUT)/test_kern $(OUTPUT)/bpfmesh
	$(Q)$(OUTPUT)/test_kern

# The README's test command; .ci/run calls exactly this.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run_all.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory $(OUTPUT)/bpfmesh
	$(Q)demo/demo.sh

vmtest: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)vmtests/vmtest.sh $(if $(KERNEL),-k $(KERNEL))

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(OUTPUT)/k8s_scale
	$(Q)bench/run.sh $(if $(QUICK),--quick)
	$(Q)bench/tc.sh $(if $(QUICK),--quick)
	$(Q)bench/control.sh $(if $(QUICK),--services 1000 --changes 4 --starts 1)
	$(Q)bench/lb.sh $(if $(QUICK),--quick)

# ---- hostile policy input (issue 8) -----------------------------------------
# Sanitizer objects put every arena object in its own malloc block, so that
# ASan sees an overflow that a shared arena chunk would hide.
$(OUTPUT)/san/%.o: SAN += -DBPFMESH_ARENA_MALLOC

# `make fuzz [FUZZ_SECONDS=N] [FUZZ_FLAGS=...]`: libFuzzer on parse -> validate -> compile
# (clang, ASan, UBSan, real malloc), one core, corpus seeded with policies/,
# the unit fixtures, the bad-policy table and the regression corpus. Crashes
# land in $(OUTPUT)/fuzz/; copy each into tests/fuzz/regress/ once fixed.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BIN     := $(OUTPUT)/fuzz/fuzz_policy
# The compile names workloads as the metrics do (user/metrics/workload.c).
FUZZ_SRCS    := $(POLICY_SRCS) user/metrics/workload.c
$(FUZZ_BIN): tests/fuzz/fuzz_policy.c tests/fuzz/fuzz_policy.h \
		$(FUZZ_SRCS) $(wildcard include/bpfmesh/*.h user/policy/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -O1 -g $(FUZZ_SAN) -DBPFMESH_ARENA_MALLOC $(WARN) $(INCLUDES) -Itests \
		$< $(FUZZ_SRCS) -lyaml -o $@

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BIN)
	$(Q)mkdir -p $(OUTPUT)/fuzz/corpus $(OUTPUT)/fuzz/crashes
	$(Q)tests/fuzz/seed.sh $(OUTPUT)/fuzz/corpus
	$(Q)$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
		-max_len=65536 -artifact_prefix=$(OUTPUT)/fuzz/crashes/ -print_final_stats=1 \
		$(FUZZ_FLAGS) $(OUTPUT)/fuzz/corpus tests/fuzz/regress

# The bad-policy table runs the real binary (time and memory are measured on
# the release build, not under ASan).
$(OUTPUT)/unit/test_bad_policies: $(OUTPUT)/bpfmesh

# `make valgrind`: the agent's start -> apply -> reload -> reject -> stop under
# memcheck, no error and no leak allowed (root, own cgroup; about 10 s).
valgrind: deps
	$(Q)$(MAKE) --no-print-directory $(OUTPUT)/bpfmesh
	$(Q)tests/valgrind/agent-cycle.sh $(OUTPUT)/bpfmesh

.PHONY: fuzz valgrind
# ---- end of issue 8 block ----------------------------------------------------

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the one binary, with the BPF
# objects inside it (embedded by their skeletons), and its manual page. bin/,
# not sbin/: `bpfmesh lint` runs unprivileged in CI, where sbin is not on PATH.
PREFIX ?= /usr/local
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man8

install: $(OUTPUT)/bpfmesh
	$(call msg,INSTALL,$(BINDIR)/bpfmesh)
	$(Q)install -d $(BINDIR) $(MANDIR)
	$(Q)install -m 0755 $(OUTPUT)/bpfmesh $(BINDIR)/bpfmesh
	$(call msg,INSTALL,$(MANDIR)/bpfmesh.8)
	$(Q)install -m 0644 docs/bpfmesh.8 $(MANDIR)/bpfmesh.8

uninstall:
	$(call msg,RM,$(BINDIR)/bpfmesh $(MANDIR)/bpfmesh.8)
	$(Q)rm -f $(BINDIR)/bpfmesh $(MANDIR)/bpfmesh.8

# `make k8s-bench`: render + compile of K8S_SERVICES Services with
# K8S_ENDPOINTS endpoints each (issue 16), no kernel; prints times.
$(OUTPUT)/k8s_scale: bench/k8s_scale.c tests/k8s/fakeapi.c $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) $< tests/k8s/fakeapi.c $(LIB_OBJS) $(LIBS) $(FAKEAPI_LIBS) -o $@

k8s-bench: $(OUTPUT)/k8s_scale
	$(Q)$(OUTPUT)/k8s_scale

# `make k8s-latency` (root): the agent against the recorded API server;
# cold start, and K8S_CHANGES single endpoint changes timed from the watch
# event to the pinned maps. Attaches to a cgroup of its own: run it under
# the kernel lock.
k8s-latency: $(OUTPUT)/k8s_scale $(OUTPUT)/bpfmesh
	$(Q)flock /tmp/bpfmesh-kern.lock $(OUTPUT)/k8s_scale --agent

.PHONY: k8s-bench k8s-latency

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT)
