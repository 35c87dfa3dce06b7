// SPDX-License-Identifier: Apache-2.0
/* Rules inside one resource (see validate.h). */
#include "validate.h"

void validate_model(struct model *m, struct diag_list *dl)
{
}
