/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_RCU_WAIT_H
#define BPFMESH_RCU_WAIT_H
/*
 * Waiting from user space until no BPF program still reads what the agent
 * replaced: an RCU grace period, obtained from the kernel itself.
 *
 * After updating or deleting an element of a map-of-maps from bpf(2), the
 * kernel calls synchronize_rcu() before it returns (maybe_wait_bpf_programs
 * in kernel/bpf/syscall.c, there since 4.18 and in 6.1 as in 6.18), so that
 * user space knows no program still uses the old inner map. Non-sleepable
 * programs (cgroup sock_addr, TC) run inside rcu_read_lock(), so when that
 * update returns, every program that started before it has finished. The
 * wait is exact, whatever the load, unlike a wall-clock delay: a program
 * preempted inside its read-side section (CONFIG_PREEMPT_RCU) still holds
 * the grace period back.
 */

/* One grace period: 0 or a negative errno. The two small maps it uses are
 * created on first use and kept for the process's life. */
int kern_wait_readers(void);

#endif /* BPFMESH_RCU_WAIT_H */
