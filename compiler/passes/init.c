/* init.c: seeded weight initialisation, bit-identical on every machine.
 *
 * Takes a Graph whose parameters and buffers may lack data; gives each one
 * without data its initial values per t->init, from a generator keyed by
 * (g->seed, the tensor's name), so a tensor's values depend neither on the
 * order of declaration nor on the other layers.
 *
 * The generator is splitmix64 (Steele, Lea, Flood 2014): the state advances
 * by the golden-ratio constant and each output is the state through a
 * bijective mixer. Integer arithmetic only, so its stream is the same
 * everywhere. The only floating point is a double bound from sqrt (exactly
 * rounded in IEEE 754) and one product b * w rounded to float, with w =
 * 2u - 1 exact; no sum follows a product, so FMA contraction cannot change
 * a bit.
 *
 * Schemes (fans as PyTorch's _calculate_fan_in_and_fan_out computes them
 * from the owning layer's weight, shape [out, in, k...]: fan_in = in * k...,
 * fan_out = out * k...):
 *   default   weight and bias U(-b, b), b = 1/sqrt(fan_in): what
 *             kaiming_uniform_(a=sqrt(5)) and the bias rule of nn.Conv/Linear
 *             reduce to
 *   he        weight U(+-sqrt(6/fan_in)), bias 0
 *   xavier    weight U(+-sqrt(6/(fan_in + fan_out))), bias 0
 *   zeros, ones
 * The weight is param slot 0 of the owning node; any other slot is a bias.
 * A random scheme whose owner's weight has fewer than 2 dimensions (no fan,
 * PyTorch refuses too) gives zeros. */
#include "../cnnc.h"

#include <math.h>
#include <stdlib.h>

#define GOLDEN 0x9E3779B97F4A7C15ull

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* FNV-1a, 64-bit. */
static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001B3ull;
    }
    return h;
}

Rng rng_seeded(uint64_t seed, const char *stream)
{
    return (Rng){hash_name(stream) ^ mix64(seed)};
}

uint32_t rng_u32(Rng *r)
{
    r->state += GOLDEN;
    return (uint32_t)(mix64(r->state) >> 32);
}

float rng_uniform(Rng *r)
{
    return (float)(rng_u32(r) >> 8) * 0x1p-24f;
}

/* Per tensor, the node holding it in a param slot (-1 if none) and that
 * slot: one sweep, so that initialisation stays linear in the layers. */
typedef struct {
    int node, slot;
} Owner;

static Owner *owners(const Graph *g)
{
    Owner *own = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *own);
    for (int t = 0; t < g->nt; t++)
        own[t] = (Owner){-1, 0};
    for (int i = g->nn - 1; i >= 0; i--) /* the first holder wins, as a scan would find it */
        for (int s = g->n[i].nparam - 1; s >= 0; s--)
            if (g->n[i].param[s] >= 0)
                own[g->n[i].param[s]] = (Owner){i, s};
    return own;
}

/* Fans of a weight of the given shape; false if it has no fan (rank < 2). */
static bool fans(const Shape *w, double *fan_in, double *fan_out)
{
    if (w->rank < 2)
        return false;
    double field = 1;
    for (int i = 2; i < w->rank; i++)
        field *= (double)w->d[i];
    *fan_in = (double)w->d[1] * field;
    *fan_out = (double)w->d[0] * field;
    return true;
}

/* The half-width of tensor t's uniform distribution; 0 for zeros. */
static double bound_of(const Graph *g, int t, Owner own)
{
    const Tensor *ten = &g->t[t];
    int slot = own.slot, owner = own.node;
    const Shape *w = owner >= 0 ? &g->t[g->n[owner].param[0]].shape : &ten->shape;
    double fan_in, fan_out;
    if (!fans(w, &fan_in, &fan_out))
        return 0;
    bool weight = slot == 0;
    switch (ten->init) {
    case INIT_DEFAULT:
        return 1.0 / sqrt(fan_in);
    case INIT_HE:
        return weight ? sqrt(6.0 / fan_in) : 0;
    case INIT_XAVIER:
        return weight ? sqrt(6.0 / (fan_in + fan_out)) : 0;
    case INIT_ZEROS:
    case INIT_ONES:
        break;
    }
    return 0;
}

static void init_tensor(const Graph *g, int t, Owner own, float *data, int64_t numel)
{
    const Tensor *ten = &g->t[t];
    if (ten->init == INIT_ONES) {
        for (int64_t i = 0; i < numel; i++)
            data[i] = 1.0f;
        return;
    }
    double b = bound_of(g, t, own);
    if (b == 0)
        return; /* data is already zeroed */
    Rng r = rng_seeded(g->seed, ten->name);
    for (int64_t i = 0; i < numel; i++) {
        double w = 2.0 * rng_uniform(&r) - 1.0; /* exact: u has 24 bits */
        data[i] = (float)(b * w);
    }
}

void init_weights(Graph *g)
{
    Owner *own = owners(g);
    for (int t = 0; t < g->nt; t++) {
        Tensor *ten = &g->t[t];
        if ((ten->kind != T_PARAM && ten->kind != T_BUFFER) || ten->data)
            continue;
        int64_t numel = shape_numel(&ten->shape);
        ten->data = xcalloc((size_t)numel, sizeof *ten->data);
        init_tensor(g, t, own[t], ten->data, numel);
    }
    free(own);
}
