/* gguf_internal.h — private definitions shared by the GGUF reader/writer (gguf.c) and the ggml
 * block formats (gguf_quant.c).
 *
 * Owns: the table of ggml tensor types as GGUF stores them (id, name, elements per block, bytes
 * per block, whether recx can dequantise it). Nothing here is public ABI.
 */
#ifndef RECX_GGUF_INTERNAL_H
#define RECX_GGUF_INTERNAL_H

#include "../core/core.h"

/* ggml type ids that the reader and writer name directly. */
enum {
    GG_TYPE_F32 = 0,
    GG_TYPE_F16 = 1,
    GG_TYPE_I32 = 26,
    GG_TYPE_I64 = 27,
    GG_TYPE_F64 = 28,
    GG_TYPE_BF16 = 30,
};

typedef struct gg_type_info {
    int id;
    const char *name;   /* "Q4_K" */
    int64_t block;      /* elements per block */
    int64_t block_bytes;
    /* Writes `block` floats of one block; NULL when recx cannot dequantise the type. */
    void (*dequant)(const uint8_t *src, float *dst);
} gg_type_info;

/* The entry for a ggml type id, or NULL for an unknown id. */
const gg_type_info *gg_type(int id);

#endif /* RECX_GGUF_INTERNAL_H */
