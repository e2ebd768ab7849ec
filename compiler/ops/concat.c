/* concat.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_concat = {.name = "concat"};
