#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the vmtest guest (PID 1; /bin/sh is dash, or busybox ash if the
# host has no dash; most commands are busybox applets). vmtest.sh packs it
# into the initramfs together with /etc/vmtest.conf, which sets:
#   VMTEST_ROOT  directory holding the repo's files (binaries under .output/)
#   VMTEST_BIN   test binary, relative to VMTEST_ROOT
#   VMTEST_ARGS  its arguments
#   VMTEST_SHELL 1: start a shell after the tests instead of powering off
# The host reads three marker lines from the serial console:
#   "vmtest-init: booted"    the guest is up (boot time),
#   "vmtest <kver>: ..."     the summary line of the tests,
#   "vmtest-exit-status: N"  the status to exit with.
# The guest always powers off; a panic reboots, which -no-reboot turns into exit.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# A link for every busybox applet that the image does not already hold
# (full iproute2, dash and bash win: existing names are kept). --install
# finds busybox through /proc/self/exe.
/usr/bin/busybox mount -t proc proc /proc
/usr/bin/busybox --install -s

status=1
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
	echo "vmtest-exit-status: $status"
	if [ "${VMTEST_SHELL:-0}" = 1 ]; then
		echo "vmtest: debug shell; 'exit' or Ctrl-D powers off (Ctrl-A x kills QEMU)"
		if command -v bash >/dev/null; then
			setsid cttyhack bash -l
		else
			setsid cttyhack sh -l
		fi
	fi
	sync
	poweroff -f
	sleep 10
}
trap finish EXIT

mount -t devtmpfs -o mode=0755 devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

mount -t sysfs sysfs /sys
# KVM probe boot (vmtest.sh -a auto): say hello and power off.
if grep -q 'vmtest.probe' /proc/cmdline; then
	echo vmtest-kvm-ok
	status=0
	exit 0
fi
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t bpf -o mode=0700 bpffs /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

# shellcheck source=/dev/null # written by vmtest.sh
. /etc/vmtest.conf

kver=$(uname -r)
read -r up _ </proc/uptime
echo "vmtest-init: booted $kver in ${up}s"

# Pre-load the modules the tests may need; the kernel can also load more on
# demand through /sbin/modprobe (busybox, reading the packed modules.dep).
echo /sbin/modprobe >/proc/sys/kernel/modprobe 2>/dev/null
if [ -s /etc/vmtest.modules ]; then
	while read -r mod; do
		modprobe "$mod" 2>/dev/null || echo "vmtest-init: module $mod not loaded"
	done </etc/vmtest.modules
fi

hostname vmtest
ip link set lo up
ulimit -l unlimited 2>/dev/null

# Say plainly if a file system the tests need could not be mounted.
for fs in bpf cgroup2; do
	grep -q " $fs " /proc/mounts || echo "vmtest-init: $fs is not mounted"
done

cd "$VMTEST_ROOT" || exit
export BPFMESH_BIN="$VMTEST_ROOT/.output/bpfmesh"
export TMPDIR=/tmp

log=/tmp/vmtest.log
rcfile=/tmp/vmtest.rc
echo "vmtest-init: running $VMTEST_BIN $VMTEST_ARGS"
# shellcheck disable=SC2086 # VMTEST_ARGS is a word list
{ "./$VMTEST_BIN" $VMTEST_ARGS; echo $? >"$rcfile"; } 2>&1 | tee "$log"
rc=$(cat "$rcfile" 2>/dev/null || echo 127)
read -r done_up _ </proc/uptime

summary=$(tr -d '\r' <"$log" | grep -oE '[0-9]+ passed, [0-9]+ failed.*' | tail -n 1)
if [ -z "$summary" ]; then
	summary="no summary line from $VMTEST_BIN (exit status $rc)"
	[ "$rc" -ne 0 ] || rc=1
else
	failed=$(echo "$summary" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p')
	if [ "${failed:-0}" -ne 0 ] && [ "$rc" -eq 0 ]; then
		rc=1
	fi
fi
echo "vmtest-init: tests done at ${done_up}s, exit status $rc"

# The console is quiet (errors only): show kernel warnings the tests caused.
if dmesg | grep -qE 'WARNING:|BUG:|Oops|rcu_.*stall|hung_task'; then
	echo "vmtest-init: the kernel logged warnings:"
	dmesg | grep -E -A 25 'WARNING:|BUG:|Oops|rcu_.*stall|hung_task' | head -n 200
fi
echo "vmtest $kver: $summary"
status=$rc
exit "$status"
