/* act_emit.c: the activations in generated C, from acts.def's templates:
 * the standalone operators' forward (y[i] = act(x[i]) over one sample; the
 * memory plan usually gives y the storage of x, which this loop allows: it
 * reads x[i] before writing y[i]), and the expressions every other emitter
 * applies as a fused epilogue (emit_act), in vector form (act_emit_vec) and
 * differentiated (emit_act_deriv, for the training code). */
#include "../ops.h"

#include <string.h>

/* The template with $x $y $s $v $V $I $a $b replaced: the values named, the
 * parameters as exact float literals. */
static const char *expand(Emit *e, const char *tmpl, Act act, const char *x, const char *y,
                          const char *s, const char *v, int lanes)
{
    StrBuf b = {0};
    char vt[16], it[16];
    snprintf(vt, sizeof vt, "cnnc_v%d", lanes);
    snprintf(it, sizeof it, "cnnc_v%di", lanes);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$' || !p[1]) {
            sb_putc(&b, *p);
            continue;
        }
        switch (*++p) {
        case 'x': sb_puts(&b, x); break;
        case 'y': sb_puts(&b, y); break;
        case 's': sb_puts(&b, s); break;
        case 'v': sb_puts(&b, v); break;
        case 'V': sb_puts(&b, vt); break;
        case 'I': sb_puts(&b, it); break;
        case 'a': sb_puts(&b, emit_float(e, act.a)); break;
        case 'b': sb_puts(&b, emit_float(e, act.b)); break;
        default: internal_error("bad activation template '%s'", tmpl);
        }
    }
    return emit_keep(e, b.s ? b.s : xstrdup(""));
}

const char *emit_act(Emit *e, Act act, const char *v)
{
    if (act.kind == ACT_NONE)
        return v;
    return expand(e, act_info(act.kind)->c_y, act, v, "", "", "", 0);
}

const char *emit_act_deriv(Emit *e, Act act, const char *x, const char *y)
{
    if (act.kind == ACT_NONE)
        return "1.0f";
    const char *s = act_grad_from_output(act) ? y : x;
    return expand(e, act_info(act.kind)->c_dydx, act, x, y, s, "", 0);
}

bool act_emit_vec(Emit *e, Act act, const char *var, int lanes)
{
    if (act.kind == ACT_NONE)
        return true;
    const char *stmts = act_info(act.kind)->c_vec;
    if (!*stmts)
        return false;
    const char *code = expand(e, stmts, act, "", "", "", var, lanes);
    for (const char *p = code; *p;) {
        size_t n = strcspn(p, "\n");
        emit_line(e, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
    return true;
}

void act_emit(Emit *e, const Node *n)
{
    int64_t count = shape_numel(node_out_shape(emit_graph(e), n));
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)count);
    emit_line(e, "float t = x0[i];");
    emit_line(e, "y[i] = %s;", emit_act(e, node_act(n), "t"));
    emit_line(e, "}");
}
