// SPDX-License-Identifier: Apache-2.0
/* See connpool_probe.h. */
#include <bpf/btf.h>
#include <linux/btf.h>
#include "connpool_probe.h"

bool connpool_kernel_has_sock_destroy(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool have;

	if (!btf)
		return false;
	have = btf__find_by_name_kind(btf, "bpf_sock_destroy", BTF_KIND_FUNC) > 0;
	btf__free(btf);
	return have;
}

const char *connpool_close_note(bool has_sock_destroy)
{
	if (!has_sock_destroy)
		return "connectionPool.tcp maxConnectionDuration and idleTimeout are not enforced "
		       "on this kernel (closing a connection from BPF needs bpf_sock_destroy, "
		       "Linux 6.5+)";
	return "connectionPool.tcp maxConnectionDuration and idleTimeout are not enforced: "
	       "this kernel has bpf_sock_destroy, but the connection sweep did not load "
	       "(see above)";
}
