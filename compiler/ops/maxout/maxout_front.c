/* maxout_front.c: how the DSL writes maxout: maxout(K), the maximum over
 * each group of K consecutive channels. */
#include "../ops.h"

static void dsl_maxout(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_int(c, "k", true, 1, &n->a.k);
}

const DslKind maxout_dsl[] = {
    {"maxout", "maxout", OP_MAXOUT, 0, "k", "k", dsl_maxout, NULL},
    {NULL},
};
