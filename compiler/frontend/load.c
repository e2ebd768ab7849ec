/* load.c: stub */
#include "../cnnc.h"
Graph *model_load(const char *path) { return dsl_load(path); }
