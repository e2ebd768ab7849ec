/* onnx.c: stub */
#include "../cnnc.h"
Graph *onnx_load(const char *path) { diag_error((Loc){path, 0, 0}, "ONNX not implemented yet"); return NULL; }
