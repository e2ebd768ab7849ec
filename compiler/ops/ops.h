/* ops.h: what operator files share (geometry helpers, kernels used by
 * several operators). Internal to compiler/ops/. */
#ifndef CNNC_OPS_H
#define CNNC_OPS_H

#include "../cnnc.h"

#endif
