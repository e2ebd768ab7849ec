/* dsl.c: stub */
#include "../cnnc.h"
Graph *dsl_load(const char *path) { diag_error((Loc){path, 0, 0}, "DSL not implemented yet"); return NULL; }
