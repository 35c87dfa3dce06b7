// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: parse -> validate -> compile (see fuzz_policy.h), and
 * the YAML loaded with and without yaml_fast.c must be the same (abort).
 * Built by `make fuzz` with clang, ASan, UBSan and the arena in malloc mode. */
#include <stdlib.h>

#include "fuzz_policy.h"
#include "yaml_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_policy_one(data, size);
	if (size > 1 && !ydiff_same((const char *)data + 1, size - 1))
		abort();
	return 0;
}
