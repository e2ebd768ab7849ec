/* load.c: stub */
#include "../cnnc.h"
Graph *dsl_load(const char *path) { diag_error((Loc){path, 0, 0}, "DSL not implemented yet"); return NULL; }
Graph *onnx_load(const char *path) { diag_error((Loc){path, 0, 0}, "ONNX not implemented yet"); return NULL; }
Graph *model_load(const char *path) { return dsl_load(path); }
