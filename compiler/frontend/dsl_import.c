/* dsl_import.c: `NAME: import("FILE", weights="DIR", until="TENSOR")`, a
 * pretrained network as a block of a .cnn model (docs/dsl.md).
 *
 * Takes an import statement; loads the network it names (a .cnn file and
 * the --weights folder of its parameters, or an .onnx file), path relative
 * to the importing file, infers its shapes and keeps what tensor `until`
 * depends on (the whole network without `until`). Gives that part copied
 * into the importing graph: nodes "NAME.<node>", parameters
 * "NAME.<parameter>" (contract section 5's names, prefixed so that they
 * cannot clash: a DSL name has no '.') with their loaded values, frozen
 * when the model says `freeze NAME`; the node computing `until` is named
 * NAME, the name later layers read. The nodes that read the imported
 * network's input read the block's input once dsl_lower.c links it. */
#include "cnnc.h"
#include "kit/dsl_args.h"
#include "kit/onnx_kit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn.tab.h"

struct DslImport {
    char *path; /* the file, as g's locations name it */
    Graph *g;   /* the imported network, shapes inferred, weights loaded */
    bool *keep; /* per node of g: `until` depends on it */
    int until;  /* the block's output, a tensor of g */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* `rel` as seen from the importing file's folder. */
static char *beside(const char *importer, const char *rel)
{
    const char *slash = strrchr(importer, '/');
    if (rel[0] == '/' || !slash)
        return xstrdup(rel);
    return xasprintf("%.*s/%s", (int)(slash - importer), importer, rel);
}

/* A string argument, or NULL (reported when given but not a string). */
static const char *string_arg(DslArgs *c, const char *key, bool required)
{
    const Value *v = dsl_get(c, key, required);
    if (v && v->kind != V_STRING) {
        dsl_bad_value(c, key, v, "a string in double quotes");
        return NULL;
    }
    return v ? v->s : NULL;
}

/* The imported file, checked before it is read: present, a model file (with
 * a folder of weights, a .cnn file only), not one of the files being
 * imported already. */
static bool check_file(DslArgs *c, const Value *v, const char *path, const Value *weights,
                       const char *dir)
{
    struct stat st;
    errno = 0;
    bool onnx = ends_with(path, ".onnx");
    if (!onnx && !ends_with(path, ".cnn"))
        diag_error(v->loc, "%s: \"%.200s\" is not a model file (expected .cnn or .onnx)", c->what,
                   v->s);
    else if (access(path, R_OK) != 0)
        diag_error(v->loc, "%s: cannot open \"%.200s\": %s", c->what, path, strerror(errno));
    else if (dsl_loading(path))
        diag_error(v->loc, "%s: \"%.200s\" is being imported already: an import cycle", c->what,
                   v->s);
    else if (!onnx && !dsl_import_room())
        diag_error(v->loc, "%s: imports nest more than %d files deep", c->what, MAX_IMPORT_DEPTH);
    else if (onnx && weights)
        diag_error(weights->loc, "%s: an ONNX file holds its weights; weights= is for a .cnn file",
                   c->what);
    else if (weights && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        diag_error(weights->loc, "%s: \"%.200s\" is not a folder of weights%s%s", c->what,
                   weights->s, errno ? ": " : "", errno ? strerror(errno) : "");
    else
        return true;
    return false;
}

/* Reads, sorts and shapes the network and loads its weights. */
static Graph *load_network(DslArgs *c, const Stmt *s, const char *path, const char *weights)
{
    bool onnx = ends_with(path, ".onnx");
    Graph *g = onnx ? onnx_load(path, false) : dsl_load(path);
    bool quiet = diag_quiet_warnings(true);
    bool ok = g && graph_toposort(g) && shape_infer(g);
    if (ok && g->whole) { /* its axis 0 is no batch: the importing model's samples would mix */
        diag_error(s->loc, "%s: \"%.200s\" is read as one whole sample (it mixes axis 0); "
                   "import a network with a batch axis", c->what, path);
        ok = false;
    }
    diag_quiet_warnings(quiet);
    ok = ok && (!weights || weights_load_dir(g, weights));
    for (int t = 0; ok && t < g->nt; t++)
        if (g->t[t].q) {
            diag_error(s->loc, "%s: \"%.200s\" is an int8 network; import its float form",
                       c->what, path);
            ok = false;
        }
    if (!ok) {
        diag_note(s->loc, "in the network imported here");
        graph_free(g);
        return NULL;
    }
    return g;
}

/* An ONNX value's tensor: the graph names a node's output after the node
 * (kit/onnx_kit.c), so `until` may name either. -1: no node writes it. */
static int onnx_value_tensor(const Graph *g, const char *path, const char *value)
{
    Onnx__ModelProto *m = onnx_read_model(path);
    int t = -1;
    for (size_t i = 0; m && m->graph && i < m->graph->n_node && t < 0; i++) {
        const Onnx__NodeProto *node = m->graph->node[i];
        if (node->n_output > 0 && node->output[0] && strcmp(node->output[0], value) == 0)
            t = graph_find_tensor(g, node_label(node));
    }
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    return t;
}

/* The activation `until` names, or -1 (reported, with a suggestion). */
static int find_cut(DslArgs *c, const Graph *g, const char *path, const Value *v)
{
    int t = graph_find_tensor(g, v->s);
    if (t < 0 && ends_with(path, ".onnx"))
        t = onnx_value_tensor(g, path, v->s);
    if (t >= 0 && g->t[t].kind == T_ACT && t != g->input)
        return t;
    if (t == g->input) {
        diag_error(v->loc, "%s: \"%.60s\" is the imported network's input: nothing would be "
                   "imported", c->what, v->s);
        return -1;
    }
    DslSuggest sg = {0};
    for (int i = 0; i < g->nn; i++)
        dsl_suggest_offer(&sg, v->s, g->t[g->n[i].out].name);
    char hint[96];
    diag_error(v->loc, "%s: the imported network has no layer or tensor named \"%.60s\"%s",
               c->what, v->s, dsl_did_you_mean(hint, sizeof hint, sg.word));
    return -1;
}

DslImport *dsl_import_load(DslParse *p, const Stmt *s, const char *name)
{
    DslArgs c;
    dsl_args_init(&c, s->loc, "%s '%s'", "import", name);
    int errors = diag_error_count();
    dsl_bind(&c, "path", "path weights until", s->args);
    const char *file = string_arg(&c, "path", true);
    const char *dir = string_arg(&c, "weights", false);
    const char *until = string_arg(&c, "until", false);
    if (!file || diag_error_count() != errors)
        return NULL;
    char *path = beside(p->path, file);
    char *weights = dir ? beside(p->path, dir) : NULL;
    DslImport *im = NULL;
    Graph *g = NULL;
    if (check_file(&c, dsl_get(&c, "path", false), path, dsl_get(&c, "weights", false), weights)
        && (g = load_network(&c, s, path, weights))) {
        int cut = until ? find_cut(&c, g, path, dsl_get(&c, "until", false)) : g->output;
        if (cut >= 0) {
            im = xcalloc(1, sizeof *im);
            *im = (DslImport){path, g, graph_ancestors(g, cut), cut};
            g = NULL;
            path = NULL;
        }
    }
    graph_free(g);
    free(path);
    free(weights);
    return im;
}

int dsl_import_rank(const DslImport *im)
{
    return im->g->t[im->until].shape.rank;
}

const Shape *dsl_import_input(const DslImport *im)
{
    return &im->g->t[im->g->input].shape;
}

bool dsl_import_has_params(const DslImport *im)
{
    for (int i = 0; i < im->g->nn; i++)
        for (int s = 0; im->keep[i] && s < im->g->n[i].nparam; s++)
            if (im->g->n[i].param[s] >= 0 && im->g->t[im->g->n[i].param[s]].kind == T_PARAM)
                return true;
    return false;
}

/* Parameter t of the imported network as a tensor of g, with its values. */
static int copy_param(Graph *g, const Graph *from, int t, const char *block, Loc loc, bool frozen)
{
    const Tensor *src = &from->t[t];
    char *name = xasprintf("%s.%s", block, src->name);
    int id = graph_add_tensor(g, name, src->kind, loc);
    free(name);
    Tensor *dst = &g->t[id];
    dst->shape = src->shape;
    dst->init = src->init;
    dst->frozen = frozen && src->kind == T_PARAM;
    if (src->data) {
        size_t bytes = (size_t)shape_numel(&src->shape) * sizeof *src->data;
        dst->data = xmalloc(bytes);
        memcpy(dst->data, src->data, bytes);
    }
    return id;
}

int dsl_import_build(Graph *g, const DslImport *im, const char *block, Loc loc, bool frozen,
                     int *first)
{
    const Graph *from = im->g;
    int *map = xmalloc((size_t)from->nt * sizeof *map); /* tensor of `from` -> of g */
    for (int t = 0; t < from->nt; t++)
        map[t] = t == from->input ? DSL_IMPORT_SOURCE : -1;
    *first = g->nn;
    for (int i = 0; i < from->nn; i++) {
        const Node *n = &from->n[i];
        if (!im->keep[i])
            continue;
        int *in = xmalloc((size_t)(n->nin ? n->nin : 1) * sizeof *in);
        for (int j = 0; j < n->nin; j++)
            in[j] = map[n->in[j]];
        /* The cut's node is the block: its output is named as the DSL
         * reads it (`--freeze-until NAME` finds it too). */
        char *name = n->out == im->until ? xstrdup(block) : xasprintf("%s.%s", block, n->name);
        int id = graph_add_node(g, n->op, name, loc, in, n->nin);
        free(name);
        free(in);
        Node *copy = &g->n[id];
        copy->a = n->a;
        copy->act = n->act;
        copy->frozen = frozen; /* also what its shape rule may declare anew */
        copy->nparam = n->nparam;
        for (int s = 0; s < n->nparam; s++) {
            int t = n->param[s];
            if (t >= 0 && map[t] < 0)
                map[t] = copy_param(g, from, t, block, loc, frozen);
            copy->param[s] = t >= 0 ? map[t] : -1;
        }
        map[n->out] = copy->out;
    }
    int out = map[im->until];
    free(map);
    return out;
}

void dsl_import_link(Graph *g, int first, int last, int source)
{
    for (int i = first; i <= last; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == DSL_IMPORT_SOURCE)
                g->n[i].in[j] = source;
}

void dsl_import_free(DslImport *im)
{
    if (!im)
        return;
    graph_free(im->g);
    free(im->path);
    free(im->keep);
    free(im);
}
