// SPDX-License-Identifier: Apache-2.0
/* Queries on Prometheus exposition text, for the kernel tests that scrape
 * the agent (the VM has no Prometheus parser; see prog_tests/metrics.c). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "ktest.h"

/* Does the label block hold k="v" as a whole label? */
static bool has_label(const char *labels, const char *end, const char *kv)
{
	size_t n = strlen(kv);
	const char *p;

	for (p = labels; (p = strstr(p, kv)) && p < end; p++)
		if ((p[-1] == '{' || p[-1] == ',') && (p[n] == ',' || p[n] == '}'))
			return true;
	return false;
}

long long prom_series_sum(const char *text, const char *name, const char *const *want)
{
	size_t nl = strlen(name);
	long long sum = -1;
	const char *line, *end, *close;

	for (line = text; *line; line = *end ? end + 1 : end) {
		const char *const *w;

		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if (strncmp(line, name, nl) || line[nl] != '{')
			continue;
		close = memchr(line, '}', (size_t)(end - line));
		if (!close)
			continue;
		for (w = want; *w && has_label(line + nl, close + 1, *w); w++)
			;
		if (*w)
			continue;
		sum = (sum < 0 ? 0 : sum) + strtoll(close + 2, NULL, 10);
	}
	return sum;
}
