/* transpose_emit.c: the forward emitter of transpose (transpose.c): the
 * simplified permutation's loop nest (strided.c): memcpy of rows where the
 * last axis stays last, tiles where it moves. */
#include "../ops.h"

void transpose_emit(Emit *e, const Node *n)
{
    Strided st = transpose_strided(emit_graph(e), n);
    emit_strided(e, &st, "y", "x0", false);
}
