/* dense.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_dense = {.name = "dense"};
