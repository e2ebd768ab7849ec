/* batchnorm.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_batchnorm = {.name = "batchnorm"};
