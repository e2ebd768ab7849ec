/* emit.c: stub */
#include "../cnnc.h"
bool emit_c(Graph *g, const EmitOptions *opt) { (void)g; diag_error((Loc){opt->out_c, 0, 0}, "code generation not implemented yet"); return false; }
