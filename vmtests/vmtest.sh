#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run the kernel tests (.output/test_kern) on a second kernel under QEMU.
# See vmtests/README.md for the design; `make vmtest [KERNEL=...]` calls this.
set -eu

# Interrupted unless something below says otherwise.
status=130

usage() {
	cat <<EOF
Usage: $0 [-k KERNEL] [-a auto|kvm|tcg] [-t SECS] [-b TESTBIN] [-s] [-h] [-- TESTARGS...]

Boot KERNEL in qemu-system-x86_64 with a busybox initramfs that holds the
binaries built in .output/, run the kernel tests as root inside the guest,
print the guest's output and exit with the tests' status.

  -k KERNEL  kernel image (default: newest /boot/vmlinuz-6.1*; Debian's
             linux-image-amd64 is installed with apt-get when there is none).
             Its modules are taken from /lib/modules/<version>.
  -a ACCEL   auto (default: KVM if a short probe boot works, else TCG), kvm, tcg
  -t SECS    time limit for the whole guest run (default: $timeout)
  -b TESTBIN test binary, relative to the repo (default: $testbin)
  -s         debug: after the tests, start a shell in the guest instead of
             powering off (no time limit; Ctrl-A x kills QEMU)
  -h         this help
  TESTARGS   passed to the test binary (e.g. a test name filter)

Logs: vmtests/logs/vmtest-<kernel>-<date>.log (serial console of the guest).
Exit status: that of the tests in the guest; 124 if the guest did not boot or
did not finish in time; 130 if interrupted; 1 for harness errors.
EOF
}

die() {
	echo "vmtest: $*" >&2
	status=1
	exit 1
}

log_msg() {
	echo "vmtest: $*" >&2
}

repo=$(cd "$(dirname "$0")/.." && pwd)
vmdir="$repo/vmtests"
kernel=""
accel=auto
timeout=1800
boot_timeout=${VMTEST_BOOT_TIMEOUT:-120}
kvm_probe_timeout=20
testbin=.output/test_kern
debug_shell=0

while getopts "k:a:t:b:sh" opt; do
	case "$opt" in
	k) kernel=$OPTARG ;;
	a) accel=$OPTARG ;;
	t) timeout=$OPTARG ;;
	b) testbin=$OPTARG ;;
	s) debug_shell=1 ;;
	h) usage; status=0; exit 0 ;;
	*) usage >&2; status=1; exit 1 ;;
	esac
done
shift $((OPTIND - 1))
testargs="$*"

case "$accel" in auto|kvm|tcg) ;; *) die "bad -a $accel (auto, kvm or tcg)";; esac
case "$timeout" in ''|*[!0-9]*) die "bad -t $timeout (seconds)";; esac

work=""
qemu_pid=""
tail_pid=""
log=""
result=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$status
	trap - EXIT INT TERM
	if [ -n "$qemu_pid" ]; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	[ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
	[ -z "$work" ] || rm -rf "$work"
	[ "$rc" -ne 130 ] || log_msg "interrupted"
	# CI shows only the last lines: repeat the failed checks above the result.
	if [ "$rc" -ne 0 ] && [ -n "$log" ] && [ -f "$log" ]; then
		tr -d '\r' <"$log" | grep -E ': FAIL |:FAIL \(' | tail -n 12 |
			sed 's/^/vmtest: failed check: /' || true
	fi
	[ -z "$result" ] || echo "vmtest: $result"
	[ -z "$log" ] || echo "vmtest: log: ${log#"$repo"/}"
	exit "$rc"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Debian packages by name, installed only when missing (needs root).
need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or install them)"
	log_msg "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# Newest /boot/vmlinuz-6.1.*, or nothing.
newest_61() {
	local k
	for k in /boot/vmlinuz-6.1.*; do
		[ -e "$k" ] && echo "$k"
	done | sort -V | tail -n 1
}

# Kernel release string from a bzImage header (offset 0x20e points at it).
kernel_release() {
	local off
	off=$(od -An -j 526 -N 2 -t u2 "$1" | tr -d ' ')
	[ -n "$off" ] || return 1
	dd if="$1" bs=1 skip=$((off + 512)) count=200 2>/dev/null | tr '\0' '\n' | head -n 1 | cut -d' ' -f1
}

# --- what to boot -----------------------------------------------------------

need_pkgs qemu-system-x86 busybox-static cpio kmod

if [ -z "$kernel" ]; then
	kernel=$(newest_61)
	if [ -z "$kernel" ]; then
		need_pkgs linux-image-amd64
		kernel=$(newest_61)
		[ -n "$kernel" ] || die "linux-image-amd64 installed no /boot/vmlinuz-6.1*"
	fi
fi
[ -r "$kernel" ] || die "cannot read kernel $kernel"
kver=$(kernel_release "$kernel") || true
[ -n "$kver" ] || kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
moddir=/lib/modules/$kver
[ -d "$moddir" ] || log_msg "warning: no $moddir; booting without modules"

[ -x "$repo/$testbin" ] || die "no $testbin; run 'make all' (or 'make vmtest')"
[ -x "$repo/.output/bpfmesh" ] || die "no .output/bpfmesh; run 'make all' (or 'make vmtest')"

# Options from the kconfig fragment that this kernel lacks (warn only: the
# tests report what they cannot do).
kconfig="$(dirname "$kernel")/config-$kver"
if [ -r "$kconfig" ]; then
	missing_cfg=""
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*}
		grep -qE "^$opt=[ym]" "$kconfig" || missing_cfg="$missing_cfg $opt"
	done <"$vmdir/config"
	[ -z "$missing_cfg" ] || log_msg "warning: $kver lacks:$missing_cfg"
fi

mkdir -p "$vmdir/logs"
log="$vmdir/logs/vmtest-$kver-$(date +%Y%m%d-%H%M%S).log"
work=$(mktemp -d /tmp/vmtest.XXXXXX)
root="$work/root"

# --- initramfs --------------------------------------------------------------

t_pack=$(now)
mkdir -p "$root"/usr/bin "$root"/usr/sbin "$root"/usr/lib "$root"/usr/lib64 \
	"$root"/etc "$root"/proc "$root"/sys "$root"/dev "$root"/tmp "$root"/run "$root"/root
# Merged /usr like the host, so every path ldd prints exists in the guest.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# Copy a host file to the same path in the guest (following symlinks).
add_file() {
	local src=$1 dst=${2:-$1}
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
}

# An executable and the shared libraries it loads.
add_elf() {
	local lib
	add_file "$@"
	ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			[ -e "$root$lib" ] || add_file "$lib"
		done
}

add_file /bin/busybox /usr/bin/busybox
# Full iproute2 and bpftool for the tests. /bin/sh is dash, not busybox ash:
# Debian's static busybox runs its own applets before searching PATH, so
# system("ip ...") would get busybox's reduced ip. bash is the debug shell.
# openssl: the k8s_tls tests make their throwaway CA with it.
for t in ip tc bpftool dash bash openssl; do
	p=$(command -v "$t" || true)
	[ -z "$p" ] || add_elf "$p"
done
[ ! -e "$root/usr/bin/dash" ] || ln -s dash "$root/usr/bin/sh"

# The repo's build output, policies and test data under /bpfmesh.
vroot=/bpfmesh
mkdir -p "$root$vroot/.output"
for f in "$repo"/.output/bpfmesh "$repo/$testbin"; do
	add_elf "$f" "$vroot/${f#"$repo"/}"
done
cp "$repo"/.output/*.bpf.o "$root$vroot/.output/" 2>/dev/null || true
for d in policies tests; do
	[ -d "$repo/$d" ] && cp -a "$repo/$d" "$root$vroot/"
done

# Kernel modules named in vmtests/modules, with their dependencies, and a
# modules.dep for them so that the guest's (busybox) modprobe can load them.
: >"$root/etc/vmtest.modules"
if [ -d "$moddir" ]; then
	while read -r mod _; do
		case "$mod" in ''|'#'*) continue ;; esac
		deps=$(modprobe -S "$kver" --show-depends "$mod" 2>/dev/null) || {
			log_msg "warning: module $mod not in $kver"
			continue
		}
		echo "$mod" >>"$root/etc/vmtest.modules"
		echo "$deps" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
			dst=${ko%.xz}; dst=${dst%.zst}
			[ ! -e "$root$dst" ] || continue
			mkdir -p "$root$(dirname "$dst")"
			case "$ko" in
			*.xz) xz -dc "$ko" >"$root$dst" ;;
			*.zst) zstd -qdc "$ko" >"$root$dst" ;;
			*) cp "$ko" "$root$dst" ;;
			esac
		done
	done <"$vmdir/modules"
	for f in modules.order modules.builtin; do
		[ ! -e "$moddir/$f" ] || cp "$moddir/$f" "$root$moddir/" 2>/dev/null || true
	done
	mkdir -p "$root$moddir"
	depmod -b "$root" "$kver" 2>/dev/null || log_msg "warning: depmod failed"
fi

# /bin/sh: dash if the host has it; init links the other busybox applets.
[ -e "$root/usr/bin/sh" ] || ln -s busybox "$root/usr/bin/sh"

install -m 0755 "$vmdir/init.sh" "$root/init"
cat >"$root/etc/vmtest.conf" <<EOF
VMTEST_ROOT='$vroot'
VMTEST_BIN='$testbin'
VMTEST_ARGS='${testargs//\'/}'
VMTEST_SHELL=$debug_shell
EOF
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

initrd="$work/initramfs.cpio"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$initrd"
log_msg "initramfs: $(du -m "$initrd" | cut -f1) MB, packed in $(elapsed "$t_pack" "$(now)")s"

# --- QEMU -------------------------------------------------------------------

# qemu_args ACCEL: sets the array qemu (command line without -append).
# TCG runs both vCPUs on one host thread (thread=single): the tests are
# loopback ping-pong between processes, which multi-threaded TCG slows down
# (kernel tests 118-128 s single vs 197-201 s multi here, 2 host cores).
qemu_args() {
	local acc=$1 cpu=max
	[ "$acc" != kvm ] || cpu=host
	[ "$acc" != tcg ] || acc=tcg,thread=single
	qemu=(qemu-system-x86_64 -nodefaults -display none -no-reboot
		-machine pc -accel "$acc" -cpu "$cpu" -m 1G -smp 2
		-kernel "$kernel" -initrd "$initrd" -serial mon:stdio)
}
cmdline="console=ttyS0 panic=-1 quiet mitigations=off"

# /dev/kvm can exist and still hang guests: boot once with a short time limit
# and an init that only says hello.
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		t=$(now)
		qemu_args kvm
		if timeout -k 2 "$kvm_probe_timeout" "${qemu[@]}" \
			-append "$cmdline vmtest.probe" </dev/null 2>&1 | tr -d '\r' |
			grep -q '^vmtest-kvm-ok'; then
			accel=kvm
			log_msg "KVM works (probe boot $(elapsed "$t" "$(now)")s)"
		else
			log_msg "KVM probe did not boot within ${kvm_probe_timeout}s; using TCG"
		fi
	else
		log_msg "no usable /dev/kvm; using TCG"
	fi
fi

log_msg "booting $kver ($accel), log ${log#"$repo"/}"
qemu_args "$accel"
t_start=$(now)

if [ "$debug_shell" = 1 ]; then
	# Interactive: the serial console is this terminal; no time limit.
	"${qemu[@]}" -append "$cmdline" 2>&1 | tee "$log" || true
	t_end=$(now)
else
	"${qemu[@]}" -append "$cmdline" </dev/null >"$log" 2>&1 &
	qemu_pid=$!
	tail -n +1 -f --pid="$qemu_pid" "$log" &
	tail_pid=$!
	booted=""
	why=""
	while kill -0 "$qemu_pid" 2>/dev/null; do
		t=$(now)
		if [ -z "$booted" ] && grep -q '^vmtest-init: booted' "$log"; then
			booted=$t
		fi
		if [ -z "$booted" ] && [ "$(elapsed "$t_start" "$t" | cut -d. -f1)" -ge "$boot_timeout" ]; then
			why="the guest did not boot within ${boot_timeout}s"
		elif [ "$(elapsed "$t_start" "$t" | cut -d. -f1)" -ge "$timeout" ]; then
			why="the guest did not finish within ${timeout}s (hung?); raise it with -t"
		fi
		if [ -n "$why" ]; then
			kill "$qemu_pid" 2>/dev/null || true
			break
		fi
		sleep 0.5
	done
	qemu_rc=0
	wait "$qemu_pid" || qemu_rc=$?
	qemu_pid=""
	wait "$tail_pid" 2>/dev/null || true
	tail_pid=""
	t_end=$(now)
	if [ -n "$why" ]; then
		echo
		log_msg "TIMEOUT: $why"
		status=124
		result="FAIL on $kver ($accel): $why"
		exit 124
	fi
	[ "$qemu_rc" -eq 0 ] || log_msg "qemu exited with status $qemu_rc"
fi

# --- result -----------------------------------------------------------------

clean_log=$(tr -d '\r' <"$log")
guest_rc=$(echo "$clean_log" | sed -n 's/^vmtest-exit-status: \([0-9]*\).*/\1/p' | tail -n 1)
summary=$(echo "$clean_log" | grep "^vmtest $kver: " | tail -n 1 || true)
boot_s=$(echo "$clean_log" | sed -n 's/^vmtest-init: booted .* in \([0-9.]*\)s.*/\1/p' | tail -n 1)
done_s=$(echo "$clean_log" | sed -n 's/^vmtest-init: tests done at \([0-9.]*\)s.*/\1/p' | tail -n 1)
times="total $(elapsed "$t_start" "$t_end")s"
[ -z "$boot_s" ] || times="boot ${boot_s}s, $times"
[ -z "$boot_s" ] || [ -z "$done_s" ] || times="boot ${boot_s}s, tests $(elapsed "$boot_s" "$done_s")s, total $(elapsed "$t_start" "$t_end")s"

if [ -z "$guest_rc" ]; then
	if [ -z "$boot_s" ]; then
		result="FAIL on $kver ($accel): the guest did not boot (see the log)"
	else
		result="FAIL on $kver ($accel): the guest stopped before reporting a status (crash or panic?)"
	fi
	status=1
	exit 1
fi
status=$guest_rc
if [ "$status" -eq 0 ]; then
	result="PASS on $kver ($accel): ${summary#vmtest "$kver": } [$times]"
else
	result="FAIL on $kver ($accel), exit status $status: ${summary#vmtest "$kver": } [$times]"
fi
exit "$status"
