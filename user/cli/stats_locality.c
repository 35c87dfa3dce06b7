// SPDX-License-Identifier: Apache-2.0
/* Traffic per locality for `bpfmesh stats` (stats_locality.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include "stats_locality.h"
#include "kern/loader.h"

int stats_locality_open(const char *bpffs)
{
	return lb_pin_open(bpffs, BPFMESH_MAP_EP_LOCALITY);
}

static __u64 failed_of(const struct ep_counters *c)
{
	return c->fail_refused + c->fail_timeout + c->fail_reset + c->fail_other;
}

size_t stats_locality_tally(int fd, const struct health_endpoint *eps, size_t n,
			    struct loc_tally *out)
{
	size_t i, g, n_groups = 0, with_locality = 0;

	for (i = 0; fd >= 0 && i < n; i++) {
		struct ep_locality l = { .locality = "" };
		__u32 slot = eps[i].slot;

		if (!bpf_map_lookup_elem(fd, &slot, &l))
			with_locality++;
		l.locality[BPFMESH_LOCALITY_LEN - 1] = '\0';
		for (g = 0; g < n_groups && strcmp(out[g].locality, l.locality); g++)
			;
		if (g == n_groups) {
			memset(&out[g], 0, sizeof(out[g]));
			memcpy(out[g].locality, l.locality, sizeof(l.locality));
			out[g].priority = l.priority;
			n_groups++;
		}
		if (l.priority < out[g].priority)
			out[g].priority = l.priority;
		out[g].endpoints++;
		out[g].opened += eps[i].c.opened;
		out[g].failed += failed_of(&eps[i].c);
	}
	return with_locality ? n_groups : 0;
}

void stats_locality_plain(const struct loc_tally *t, size_t n, __u64 subset_opened)
{
	size_t g;

	if (!n)
		return;
	printf("    %-30s %4s %9s %10s %8s %7s\n", "LOCALITY", "PRIO", "ENDPOINTS", "OPENED",
	       "FAILED", "SHARE");
	for (g = 0; g < n; g++)
		printf("    %-30.30s %4u %9u %10llu %8llu %6.1f%%\n",
		       t[g].locality[0] ? t[g].locality : "(none)", t[g].priority,
		       t[g].endpoints, (unsigned long long)t[g].opened,
		       (unsigned long long)t[g].failed,
		       subset_opened ? 100.0 * (double)t[g].opened / (double)subset_opened : 0.0);
}

void stats_locality_json(const struct loc_tally *t, size_t n, struct json *j)
{
	size_t g;

	if (!n)
		return;
	json_key(j, "localities");
	json_arr_begin(j);
	for (g = 0; g < n; g++) {
		json_obj_begin(j);
		json_kv_str(j, "locality", t[g].locality);
		json_kv_uint(j, "priority", t[g].priority);
		json_kv_uint(j, "endpoints", t[g].endpoints);
		json_kv_uint(j, "opened", t[g].opened);
		json_kv_uint(j, "failed", t[g].failed);
		json_obj_end(j);
	}
	json_arr_end(j);
}
