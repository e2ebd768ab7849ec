/* slice_emit.c: the forward emitter of slice (slice.c): the simplified
 * window's loop nest (strided.c), memcpy of rows where the last axis is
 * read whole or in a contiguous run. */
#include "../ops.h"

void slice_emit(Emit *e, const Node *n)
{
    Strided st = slice_strided(emit_graph(e), n);
    emit_strided(e, &st, "y", "x0", false);
}
