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
		$(wildcard user/apply/*.c) user/kern/probe.c user/kern/map_ops.c)
KTEST_SRCS  := $(wildcard tests/kern/*.c tests/kern/prog_tests/*.c)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test unit kern demo vmtest bench clean

all: $(OUTPUT)/bpfmesh $(OUTPUT)/test_kern $(UNIT_BINS)

# Debian packages the build and the tests need, installed by name.
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev \
	    libcmocka-dev pkg-config iproute2 gcc make
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
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
$(OUTPUT)/test_kern: $(KTEST_SRCS) $(wildcard tests/kern/*.h) $(LIB_OBJS) $(OUTPUT)/bpfmesh
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Itests/kern $(KTEST_SRCS) $(LIB_OBJS) $(LIBS) -lm -o $@

# Unit tests: no root, no kernel, sanitizers on.
$(OUTPUT)/san/%.o: %.c $(wildcard include/bpfmesh/*.h) $(USER_HDRS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -g $(SAN) $(WARN) $(INCLUDES) -c $< -o $@

$(OUTPUT)/unit/%: tests/unit/%.c $(UNIT_OBJS) $(wildcard tests/unit/*.h) $(USER_HDRS) | $(OUTPUT)/unit
	$(call msg,LINK,$@)
	$(Q)$(CC) -O1 -g $(SAN) $(WARN) $(INCLUDES) -Itests/unit $< $(UNIT_OBJS) -lyaml -lbpf -lcmocka -o $@

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
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh $(if $(QUICK),--quick)
	$(Q)bench/tc.sh $(if $(QUICK),--quick)

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf $(OUTPUT)
