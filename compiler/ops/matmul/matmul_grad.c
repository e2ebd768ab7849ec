/* matmul_grad.c: backward of matmul (matmul.c). With g = dL/dy through the
 * epilogue, per sample and product t:
 *   dL/dA[t_A] += g[t] B[t_B]^T,  dL/dB[t_B] += A[t_A]^T g[t],
 * so an operand broadcast along t gathers the sum over it (and a constant
 * operand over the batch too); dL/dbias[n] += g[t, m, n] over t, m. */
#include "../ops.h"

#include <stdlib.h>

enum { CONST, BIAS };

void matmul_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    MatmulGeom k = matmul_geometry(g, n);
    int64_t ysize = k.count * k.m * k.n;
    float *tmp = epilogue_grad(n, out, dout, batch * ysize);
    const float *gy = tmp ? tmp : dout;
    const float *c = node_param_data(g, n, CONST);
    bool two = n->nin == 2, left = !two && n->a.const_left;
    int64_t asize = left ? 0 : shape_numel(node_in_shape(g, n, 0));
    int64_t bsize = two ? shape_numel(node_in_shape(g, n, 1)) : left ? shape_numel(node_in_shape(g, n, 0)) : 0;
    for (int s = 0; s < batch; s++) {
        const float *a = left ? c : in[0] + s * asize;
        const float *b = two ? in[1] + s * bsize : left ? in[0] + s * bsize : c;
        float *da = left ? dparam[CONST] : din[0] ? din[0] + s * asize : NULL;
        float *db = two ? (din[1] ? din[1] + s * bsize : NULL)
                        : left ? (din[0] ? din[0] + s * bsize : NULL) : dparam[CONST];
        const float *gs = gy + s * ysize;
        for (int64_t t = 0; t < k.count; t++) {
            int64_t oa = matmul_offset(&k, t, false), ob = matmul_offset(&k, t, true);
            const float *gt = gs + t * k.m * k.n;
            for (int64_t i = 0; i < k.m; i++)
                for (int64_t j = 0; j < k.n; j++) {
                    float v = gt[i * k.n + j];
                    if (dparam[BIAS] && n->nparam > BIAS && n->param[BIAS] >= 0)
                        dparam[BIAS][j] += v;
                    for (int64_t q = 0; q < k.k; q++) {
                        if (da)
                            da[oa + i * k.k + q] += v * b[ob + q * k.n + j];
                        if (db)
                            db[ob + q * k.n + j] += a[oa + i * k.k + q] * v;
                    }
                }
        }
    }
    free(tmp);
}

/* dA reads B and dB reads A (an operand's gradient is a constant's when
 * it is one); the epilogue's derivative reads the output. */
void matmul_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    bool two = n->nin == 2, left = !two && n->a.const_left;
    bool da = left ? gn->dp[CONST].t >= 0 : gn->dx[0].t >= 0;
    bool db = two ? gn->dx[1].t >= 0 : left ? gn->dx[0].t >= 0 : gn->dp[CONST].t >= 0;
    if (two) {
        in[0] = db;
        in[1] = da;
    } else {
        in[0] = left ? da : db;
    }
    *out = n->act.kind != ACT_NONE;
}
