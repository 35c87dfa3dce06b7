// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: parse -> validate -> compile (see fuzz_policy.h).
 * Built by `make fuzz` with clang, ASan, UBSan and the arena in malloc mode. */
#include "fuzz_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_policy_one(data, size);
	return 0;
}
