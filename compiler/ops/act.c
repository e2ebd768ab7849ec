/* act.c: (stub; to be written) */
#include "ops.h"

const OpInfo op_relu = {.name = "relu"};
const OpInfo op_leaky_relu = {.name = "leaky_relu"};
const OpInfo op_sigmoid = {.name = "sigmoid"};
const OpInfo op_tanh = {.name = "tanh"};
const OpInfo op_elu = {.name = "elu"};
const OpInfo op_clip = {.name = "clip"};

float act_apply(Act act, float x) { (void)act; return x; }
float act_derivative(Act act, float x, float y) { (void)act; (void)x; (void)y; return 1; }
const char *act_name(ActKind kind) { (void)kind; return "?"; }
