/* conv.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_conv = {.name = "conv"};
