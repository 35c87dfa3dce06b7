// SPDX-License-Identifier: Apache-2.0
/* Rules across resources (see validate.h). */
#include "validate.h"

void xref_check(struct registry *reg, struct diag_list *dl)
{
}
