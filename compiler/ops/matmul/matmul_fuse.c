/* matmul_fuse.c: a matmul by a constant on the right in a channels-last
 * stretch (fuse-transpose, transpose_fuse.c): torch's Linear on the last
 * axis of a permuted tensor. In the un-permuted layout that axis is either
 * still the last (nothing changes: the rows only come in another order) or
 * the channels of C x H x W or C x L, where
 *   y[f, h, w] = sum_c W[c, f] x[c, h, w] + b[f]
 * is a 1x1 convolution with weight W^T, a new constant "<node>.weight"
 * [F, C, 1(, 1)] (the pointwise kernels compute it, bias and epilogue
 * kept). Refuses: two activations, a batched constant, another axis. */
#include "../ops.h"

#include <stdlib.h>

enum { CONST, BIAS };

static void become_conv(Graph *g, Node *n, int rank)
{
    const Tensor *w = &g->t[n->param[CONST]];
    int64_t c = w->shape.d[0], f = w->shape.d[1];
    float *wt = xmalloc((size_t)(c * f) * sizeof *wt);
    for (int64_t i = 0; i < c; i++)
        for (int64_t o = 0; o < f; o++)
            wt[o * c + i] = w->data[i * f + o];
    Shape ws = rank == 3 ? shape_make(4, (int64_t[]){f, c, 1, 1}) : shape_make(3, (int64_t[]){f, c, 1});
    int t = fuse_new_const(g, n->name, "weight", &ws, wt, n->loc);
    free(wt);
    n->op = OP_CONV;
    n->param[CONST] = t;
    n->a.bias = n->nparam > BIAS && n->param[BIAS] >= 0;
    n->a.filters = (int)f;
    n->a.groups = 1;
    n->a.pad_mode = PAD_ZEROS;
    n->a.same_pad = false;
    for (int i = 0; i < 2; i++)
        n->a.kernel[i] = n->a.stride[i] = n->a.dilation[i] = 1;
    for (int i = 0; i < 4; i++)
        n->a.pad[i] = 0;
}

bool matmul_unpermute(Graph *g, Node *n, const int *perm, bool apply)
{
    if (n->nin != 1 || n->a.const_left || g->t[n->param[CONST]].shape.rank != 2)
        return false;
    int rank = node_in_shape(g, n, 0)->rank, last = perm[rank - 1];
    if (last == rank - 1)
        return true;
    if (last != 0 || (rank != 2 && rank != 3))
        return false;
    if (apply)
        become_conv(g, n, rank);
    return true;
}
