/* pool.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_maxpool = {.name = "maxpool"};
const OpInfo op_avgpool = {.name = "avgpool"};
const OpInfo op_global_avgpool = {.name = "global_avgpool"};
const OpInfo op_global_maxpool = {.name = "global_maxpool"};
