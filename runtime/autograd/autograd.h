/* autograd.h — private interface of the autograd layer (define-by-run, coarse nodes).
 *
 * Owns: the per-tensor autograd metadata, graph nodes with hand-written backward functions,
 * saved tensors with in-place version checks, and the helpers every differentiable op wrapper
 * uses to record itself. The engine (engine.c) runs backward over the recorded graph.
 *
 * Recording pattern of a public op (see autograd/grad_*.c):
 *
 *     rx_status rx_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out) // public, autograd/
 *     {
 *         RX_TRY(rx_op_unary(op, a, out));                // raw op, ops/
 *         if (!rx_ag_needs_record(1, &a)) return RX_OK;
 *         rx_node *n = NULL;
 *         rx_status s = rx_node_new("ExpBackward", exp_backward, 1, &a, 1, &n);
 *         if (s == RX_OK) s = rx_node_save(n, *out);      // saved as a detached alias
 *         return rx_ag_attach(n, s, 1, out);              // out gets grad_fn = n, or all is freed
 *     }
 *
 * Backward formulas build temporaries through an rx_ag_scratch (scratch.c) and hand results out
 * with rx_ag_give; rx_ag_end releases the rest and returns the first failure.
 *
 * Graph ownership: an output tensor holds its grad_fn node; a node holds its input edges (the
 * producing nodes, or the leaf tensors whose .grad it feeds) and its saved tensors. Saved tensors
 * are detached aliases (same storage, no autograd metadata), so there are no reference cycles and
 * releasing the last output frees the graph. backward() frees saved tensors unless retain_graph.
 */
#ifndef RECX_AUTOGRAD_H
#define RECX_AUTOGRAD_H

#include "../ops/ops.h"

#define RX_NODE_MAX_SAVED 8
#define RX_NODE_MAX_OUTPUTS 4

typedef struct rx_node rx_node;

/* Computes the gradients of the node's inputs. grad_outputs[k] is the gradient of output k
 * (never NULL: the engine supplies zeros for outputs that received none). grad_inputs[i] must
 * be set to a new reference for every input i with needs_grad[i], and may be left NULL for the
 * others. Shapes must equal the inputs' shapes (the engine checks). */
typedef rx_status (*rx_backward_fn)(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs);

typedef struct rx_edge {
    rx_node *node;  /* producer of this input (retained), or NULL */
    int output_nr;  /* which output of `node` */
    rx_tensor *leaf; /* a leaf that requires grad (retained): its .grad accumulates */
} rx_edge;

typedef struct rx_output_info {
    int ndim;
    int64_t shape[RX_MAX_DIMS];
    rx_dtype dtype;
    rx_device device;
} rx_output_info;

struct rx_node {
    int64_t refcount;
    const char *name;
    rx_backward_fn backward;
    int n_inputs;
    rx_edge *next;          /* n_inputs edges */
    bool *needs_grad;       /* n_inputs flags */
    rx_output_info *in_info; /* n_inputs: shape/dtype of each non-NULL input, to check gradients */
    int n_outputs;
    rx_output_info out_info[RX_NODE_MAX_OUTPUTS];
    int n_saved;
    rx_tensor *saved[RX_NODE_MAX_SAVED];
    int64_t saved_version[RX_NODE_MAX_SAVED];
    bool saved_released;    /* backward ran without retain_graph */
    double scalars[4];      /* op parameters (eps, p, scale, ...) */
    int64_t ints[8];        /* op parameters (op code, dims, ...) */
    void *extra;            /* op-specific state, freed by free_extra */
    void (*free_extra)(void *extra);
    /* engine scratch, valid during one backward only */
    int64_t deps;
    bool walking;
    rx_tensor *grad_acc[RX_NODE_MAX_OUTPUTS];
};

/* Per-tensor metadata (rx_tensor.autograd). */
typedef struct rx_ag_meta {
    bool requires_grad;
    rx_tensor *grad; /* accumulated gradient of a leaf */
    rx_node *grad_fn; /* NULL for leaves */
    int output_nr;
} rx_ag_meta;

/* True when grad mode is on and some input requires grad. */
bool rx_ag_needs_record(int n, rx_tensor *const *inputs);
bool rx_ag_requires_grad(const rx_tensor *t);

/* A node with refcount 1 whose edges point at the inputs' producers or leaves. Inputs that do
 * not require grad (or are NULL) get needs_grad false. */
rx_status rx_node_new(const char *name, rx_backward_fn backward, int n_inputs, rx_tensor *const *inputs,
                      int n_outputs, rx_node **out);
void rx_node_retain(rx_node *n);
void rx_node_release(rx_node *n);
/* Saves a detached alias of t (NULL allowed: saves NULL) and its storage version. */
rx_status rx_node_save(rx_node *n, rx_tensor *t);
/* The k-th saved tensor (borrowed), or an error when it was freed by a previous backward or
 * modified in place after it was saved. */
rx_status rx_node_saved(rx_node *n, int k, rx_tensor **out);
/* Attaches n as grad_fn of outputs[0..n_outputs-1] (which then require grad), records their
 * shapes, and drops the caller's reference to n. On failure releases n and the outputs. */
rx_status rx_node_finish(rx_node *n, int n_outputs, rx_tensor **outputs);

/* On failure after the raw op succeeded: release *out (and set it NULL) and return status. */
#define RX_AG_RECORD(out, expr)                    \
    do {                                           \
        rx_status rx_ag_s_ = (expr);               \
        if (rx_ag_s_ != RX_OK) {                   \
            rx_tensor_release(*(out));             \
            *(out) = NULL;                         \
            return rx_ag_s_;                       \
        }                                          \
    } while (0)

/* Gradient helpers for backward functions (all return new references). */
/* Sums g over broadcast dims so that it has `shape` (the inverse of expand). */
rx_status rx_ag_sum_to(rx_tensor *g, int ndim, const int64_t *shape, rx_tensor **out);
/* A zero tensor shaped like output/input info. */
rx_status rx_ag_zeros_like_info(const rx_output_info *info, rx_tensor **out);

/* Scratch for writing a backward formula as a sequence of raw ops (defined in grad_elementwise.c):
 * each step runs unless an earlier step failed, keeps its result (a new reference) in the scratch
 * and returns it borrowed, or returns NULL once a step has failed (the first message is kept).
 *
 *     rx_ag_scratch sc = {0};
 *     rx_tensor *d = rx_ag_scalar(&sc, RX_SUB, rx_ag_binary(&sc, RX_MUL, y, y), 1, 1); // 1 - y^2
 *     rx_ag_give(&sc, rx_ag_binary(&sc, RX_MUL, g, d), &grad_inputs[0]);
 *     return rx_ag_end(&sc);                                 // releases y^2, d, g * d
 */
#define RX_AG_SCRATCH_MAX 32
typedef struct rx_ag_scratch {
    rx_status status; /* the first failure */
    int n;
    rx_tensor *held[RX_AG_SCRATCH_MAX];
} rx_ag_scratch;
/* Takes t, the result of a step that returned s, into the scratch (for ops without a helper). */
rx_tensor *rx_ag_keep(rx_ag_scratch *sc, rx_status s, rx_tensor *t);
rx_tensor *rx_ag_unary(rx_ag_scratch *sc, rx_unary_op op, rx_tensor *a);
rx_tensor *rx_ag_binary(rx_ag_scratch *sc, rx_binary_op op, rx_tensor *a, rx_tensor *b);
rx_tensor *rx_ag_scalar(rx_ag_scratch *sc, rx_binary_op op, rx_tensor *a, double s, int scalar_first);
rx_tensor *rx_ag_where(rx_ag_scratch *sc, rx_tensor *cond, rx_tensor *a, rx_tensor *b);
rx_tensor *rx_ag_cast(rx_ag_scratch *sc, rx_tensor *a, rx_dtype dtype); /* a itself if same */
rx_tensor *rx_ag_reshape(rx_ag_scratch *sc, rx_tensor *a, int ndim, const int64_t *shape);
rx_tensor *rx_ag_reduce_to(rx_ag_scratch *sc, rx_tensor *g, int ndim, const int64_t *shape); /* sum_to */
rx_tensor *rx_ag_const(rx_ag_scratch *sc, rx_tensor *like, double value); /* 0-d, like's dtype */
/* The node's k-th saved tensor (borrowed, not held by the scratch; may be NULL when NULL was
 * saved); a failure of rx_node_saved becomes the scratch's status. */
rx_tensor *rx_ag_saved(rx_ag_scratch *sc, rx_node *node, int k);
/* f32 for f16 and bf16 (backward formulas run in f32 for them), else dtype. */
rx_dtype rx_ag_compute_dtype(rx_dtype dtype);
/* *out = a new reference to t when no step failed. */
void rx_ag_give(rx_ag_scratch *sc, rx_tensor *t, rx_tensor **out);
/* Releases everything the scratch holds; returns the first failure or RX_OK. */
rx_status rx_ag_end(rx_ag_scratch *sc);
/* The end of a recording wrapper: s is the status of the steps after rx_node_new (saving, ...).
 * RX_OK: rx_node_finish(n, n_outputs, outputs); otherwise releases n (may be NULL) and the outputs
 * (set to NULL) and returns s. */
rx_status rx_ag_attach(rx_node *n, rx_status s, int n_outputs, rx_tensor **outputs);

/* In-place writes on tensors that require grad are errors while grad mode is on. */
rx_status rx_ag_check_inplace(const char *op, int argn, const rx_tensor *t);

#endif /* RECX_AUTOGRAD_H */
