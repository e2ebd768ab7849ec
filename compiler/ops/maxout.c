/* maxout.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_maxout = {.name = "maxout"};
