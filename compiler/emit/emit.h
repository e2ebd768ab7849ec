/* emit.h: what the files of emit/ share: the Emit state behind the helpers
 * cnnc.h declares for operator emitters, and the pieces of OUT.c. */
#ifndef CNNC_EMIT_H
#define CNNC_EMIT_H

#include "../cnnc.h"

/* Where the weights go: static arrays in OUT.c, arrays in OUT_weights.c,
 * a binary file the caller loads (blob), a binary file linked in by
 * OUT_weights.S (object); or nowhere, counted only (cnnc info). */
typedef enum {
    WEIGHTS_INLINE,
    WEIGHTS_SPLIT,
    WEIGHTS_BLOB,
    WEIGHTS_OBJECT,
    WEIGHTS_COUNT
} WeightsMode;

/* An array emit_const would define, recorded while probing. */
typedef struct {
    const char *expr; /* how the layer's code names it ("P_w0_conv1_weight.f") */
    float *data;
    int64_t count;
} ProbedConst;

struct Emit {
    Graph *g;
    const EmitOptions *opt;
    const char *P;  /* the symbol prefix */
    WeightsMode mode;
    Plan plan;
    /* The layer being emitted. */
    int node;
    StrBuf *body;
    int depth;
    /* Per node: its function's body, scratch floats, whether it reads the
     * weights blob. */
    StrBuf *bodies;
    int64_t *scratch;
    bool *uses_blob;
    /* Weights: C definitions (inline), the stream of their own file
     * (split: C, blob and object: binary; sink.c), declarations (split). */
    StrBuf weights;
    StrBuf weight_decls; /* split: the extern declarations OUT.c needs */
    FILE *sink;
    char *sink_tmp;
    bool sink_failed;
    int64_t blob_floats; /* blob, object: its floats, alignment included */
    int64_t weight_bytes;
    /* Strings handed to emitters, freed with the Emit. */
    char **strs;
    int nstrs, strcap;
    bool failed;
    struct TrainPlan *train; /* --train: emit_train.c's plan (traingen) */
    /* Per node: the C identifier of its layer (`conv1`, unique); per
     * tensor: of its arena offset macro (P_AT_<ident>); NULL where none. */
    char **layer_ident;
    char **at_ident;
    /* int8 builds: the nodes P_forward_i8 skips (-1: no P_forward_i8),
     * and whether write_forward is writing it. */
    int i8_entry, i8_exit;
    bool i8_pass;
    /* --train, the layer being emitted (emit_kit.c): its backward node
     * (NULL for a training forward), the train-arena scratch it asked for,
     * the chunk size that bounds that scratch. */
    const GradNode *grad_node;
    int64_t train_scratch;
    int64_t train_chunk;
    /* --train probing a layer's emitter (emit_train_init.c): emit_const
     * records into probed instead of defining arrays. */
    bool probing;
    ProbedConst *probed;
    int nprobed, probecap;
    /* Fused inverted-residual blocks (ops/conv/conv_irb.c): per node, the
     * expand node of the block it ends (-1: none), and whether it runs
     * inside such a block's kernel (no code, no call of its own). */
    int *block_expand;
    bool *in_block;
    struct SharedConsts *shared; /* emit_shared.c: a patched build's shared arrays */
};

/* emit_shared.c: a patched build's constant arrays, one per distinct
 * contents: the expression an earlier layer's identical array (of C type
 * `type`) was given, else NULL (and in *hash, the contents' hash for
 * emit_shared_add); and the record of a new one. */
const char *emit_shared_find(Emit *e, const char *type, const void *bytes, int64_t nbytes,
                             uint32_t *hash);
void emit_shared_add(Emit *e, uint32_t hash, const char *type, const void *bytes,
                     int64_t nbytes, const char *expr);
/* Layer i's function, b's text from `from` on (after its name; the
 * functions are written in layer order into b): true when it is i's own,
 * false when an earlier layer of a patched build has the same text (the
 * caller drops i's, and i's calls go to that layer's). */
bool emit_shared_function(Emit *e, int i, const StrBuf *b, size_t from);
/* The layer whose function layer i calls: i itself, or the earlier one
 * of the same text. */
int emit_shared_layer(const Emit *e, int i);
void emit_shared_free(Emit *e);

/* The layer function of node i: "<P>_<layer>" (lenet_conv1). */
const char *emit_layer_fn(Emit *e, int i);
/* The C identifier naming node i in generated symbols (unique in the
 * model, clear of the API's names): `conv1`, or `conv1_3` on a clash. */
const char *emit_layer_ident(const Emit *e, int i);

/* A constant array for emit_typed_const: its C element type, the noun
 * counting its elements in comments, the union's members ("int8_t q[N];"),
 * the member the code reads and the portable initializer fills, the
 * little-endian bytes, and the elements (`count` at `data`) for
 * put_portable, which writes that initializer's values. */
typedef struct {
    const char *type, *noun, *members, *member;
    const unsigned char *bytes;
    int64_t nbytes;
    const void *data;
    int64_t count;
    void (*put_portable)(StrBuf *b, const void *data, int64_t count);
} ConstArray;

/* Declares an integer constant array a layer reads (inline, in
 * OUT_weights.c or in the blob, as the build says; emit_const for floats);
 * the C expression naming it in the layer. */
const char *emit_typed_const(Emit *e, const char *what, const char *comment,
                             const ConstArray *c);

/* ---- emit_int8.c: int8 builds (docs/int8.md) ---- */
/* "float", "int8_t", "int32_t". */
const char *emit_c_type(DType dt);
/* The entry quantize and exit dequantize P_forward_i8 leaves out
 * (e->i8_entry, e->i8_exit; -1 when the model has no such pair). */
void emit_int8_setup(Emit *e);
/* OUT.c: the integer arithmetic, when a layer computes in integers. */
void emit_int8_preamble(const Emit *e, StrBuf *b);
/* OUT.h: P_forward_i8 and the input and output scales and zero points. */
void emit_int8_header(const Emit *e, StrBuf *b);

/* sink.c: the weights' own file, streamed to a temporary file beside
 * `path` as they are emitted (split, blob and object modes). sink_write
 * appends and empties text; blob_append the floats as bytes, at a 64-byte
 * boundary (returns their offset in floats); sink_close closes it
 * (false after an error, reported), leaving its name in e->sink_tmp for
 * emit_write; sink_discard removes it. blob_write_asm: OUT_weights.S,
 * linking in `bin`. */
bool sink_open(Emit *e, const char *path);
void sink_write(Emit *e, StrBuf *text);
int64_t blob_append(Emit *e, const float *data, int64_t count);
int64_t blob_append_bytes(Emit *e, const unsigned char *bytes, int64_t nbytes);
bool sink_close(Emit *e, const char *path);
void sink_discard(Emit *e);
void blob_write_asm(const Emit *e, StrBuf *b, const char *bin);

/* emit_main.c: main() for `--main` (contract, section 3), with the runtime
 * it needs copied in as static functions. */
void emit_main(Emit *e, StrBuf *out);

/* ---- emit_train.c: --train (traingen; docs/training.md) ---- */
typedef struct TrainPlan TrainPlan;
/* Plans the training buffers and checks every layer can be trained. */
bool emit_train_prepare(Emit *e);
void emit_train_source(Emit *e, StrBuf *b);
void emit_train_header(Emit *e, StrBuf *b);
void emit_train_free(Emit *e);
/* `grad IN.npy LABELS.npy DIR` of the --main program. */
void emit_train_main_grad(Emit *e, StrBuf *b);
/* emit_train_init.c: where the inference code's const arrays hold a state
 * tensor's initial values, element j at
 * array[base + sum_k ((j / (count_0 ... count_{k-1})) % count_k) * stride_k]. */
#define INIT_LEVELS 8
typedef struct {
    char *array; /* the array's expression; NULL: no array holds a copy */
    int nlev;
    int64_t count[INIT_LEVELS], stride[INIT_LEVELS], base;
    char *copy;  /* an array that holds every value, its positions a loop
                    nest or not (emit_frozen_packed); NULL: none */
} InitSource;
/* src[t] for every tensor t of the graph (array NULL but for parameters
 * and buffers that have a source); free the arrays' strings. */
void emit_train_init_sources(Emit *e, InitSource *src);
/* emit_train_cache.c: where the feature cache cuts a training build
 * (docs/training.md, "Feature caching"). */
typedef struct {
    int cut;       /* the cut's tensor (its storage), -1: no cache */
    bool *part;    /* per node: in the frozen part, which P_train_features runs */
    char *refusal; /* cut < 0: why no cache can stand in for the frozen part */
} FeatureCut;
void feature_cut_find(const Graph *g, FeatureCut *fc);
void feature_cut_free(FeatureCut *fc);
/* The cut of a --train build (emit_train.c). */
const FeatureCut *emit_train_cut(const Emit *e);
/* emit_train_cmd.c: `train DATA.npy LABELS.npy [options]` (trainer). */
void emit_main_train(Emit *e, StrBuf *b);
/* emit_train.c: the train command's table of frozen parameters and
 * main_train_frozen(ctx, i, dst), their values for --save. */
void emit_train_frozen_save(Emit *e, StrBuf *b);
/* emit.c / emit_main.c helpers shared with emit_train.c. */
void put_c_string(StrBuf *b, const char *s);
void put_doc(StrBuf *b, const char *P, const char *text);
void put_runtime(StrBuf *b, const char *text);
void put_runtime_uses(StrBuf *b, const char *header);
/* emit.c: whether the input is one C x H x W image; the static arrays
 * `mean` and `inv_std` of its normalisation (false: it declares none). */
bool image_input(const Graph *g);
bool put_image_norm(Emit *e, StrBuf *b);

/* The runtime sources as C strings (generated from runtime/ by embed.cmake). */
extern const char cnnc_rt_cnnc_rt_h[];
extern const char cnnc_rt_npy_h[];
extern const char cnnc_rt_npy_c[];
extern const char cnnc_rt_image_h[];
extern const char cnnc_rt_image_c[];
extern const char cnnc_rt_train_h[];
extern const char cnnc_rt_train_c[];
extern const char cnnc_rt_train_report_h[];
extern const char cnnc_rt_train_report_c[];
extern const char cnnc_rt_train_plot_h[];
extern const char cnnc_rt_train_plot_c[];
extern const char cnnc_rt_train_loop_h[];
extern const char cnnc_rt_train_loop_c[];

#endif
