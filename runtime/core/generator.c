/* generator.c — Philox generators: a seed and an offset (the next unused counter).
 *
 * Owns: generator lifetime, the process-wide default generator (seed 0 at start), and the
 * reservation of counters for one draw. Draws may run on several threads at once: each takes its
 * counters with one atomic add on the offset, so concurrent draws never share numbers. Setting the
 * seed or the state while another thread draws from the same generator is not ordered with it.
 */
#include "core.h"

#include <stdlib.h>

struct rx_generator {
    uint64_t seed;
    uint64_t offset;
};

static rx_generator default_generator = {0, 0};

static rx_generator *resolve(rx_generator *g) { return g ? g : &default_generator; }

rx_generator *rx_generator_new(uint64_t seed)
{
    rx_generator *g = malloc(sizeof *g);
    if (!g) {
        rx_fail(RX_ERR_NOMEM, "generator: out of host memory");
        return NULL;
    }
    g->seed = seed;
    g->offset = 0;
    return g;
}

void rx_generator_free(rx_generator *g)
{
    if (g != &default_generator) free(g);
}

rx_generator *rx_default_generator(void) { return &default_generator; }

void rx_generator_set_seed(rx_generator *g, uint64_t seed) { rx_generator_set_state(g, seed, 0); }

void rx_generator_get_state(const rx_generator *g, uint64_t *seed, uint64_t *offset)
{
    const rx_generator *r = g ? g : &default_generator;
    if (seed) *seed = __atomic_load_n(&r->seed, __ATOMIC_RELAXED);
    if (offset) *offset = __atomic_load_n(&r->offset, __ATOMIC_RELAXED);
}

void rx_generator_set_state(rx_generator *g, uint64_t seed, uint64_t offset)
{
    rx_generator *r = resolve(g);
    __atomic_store_n(&r->seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&r->offset, offset, __ATOMIC_RELAXED);
}

void rx_generator_reserve(rx_generator *g, uint64_t n, uint64_t *seed, uint64_t *offset)
{
    rx_generator *r = resolve(g);
    *seed = __atomic_load_n(&r->seed, __ATOMIC_RELAXED);
    *offset = __atomic_fetch_add(&r->offset, n, __ATOMIC_RELAXED);
}
