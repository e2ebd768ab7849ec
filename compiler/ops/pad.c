/* pad.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_pad = {.name = "pad"};
