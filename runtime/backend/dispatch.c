/* dispatch.c — picks the kernel table of a device.
 *
 * Owns: the mapping device -> rx_backend, and the message when a device is not available.
 * The CUDA table is linked in only when recx is built with RECX_CUDA.
 */
#include "backend.h"

#ifdef RECX_WITH_CUDA
const rx_backend *rx_cuda_backend_get(int device_index); /* cuda/, NULL + message if unusable */
#endif

const rx_backend *rx_backend_for(rx_device device)
{
    if (device.type == RX_CPU) return &rx_cpu_backend;
#ifdef RECX_WITH_CUDA
    return rx_cuda_backend_get(device.index);
#else
    rx_fail(RX_ERR_DEVICE, "device cuda:%d: this recx was built without CUDA (configure with -DRECX_CUDA=ON)",
            device.index);
    return NULL;
#endif
}

const rx_backend *rx_backend_of(const rx_tensor *t) { return rx_backend_for(t->storage->device); }

#ifndef RECX_WITH_CUDA
int rx_cuda_available(void) { return 0; }
int rx_cuda_device_count(void) { return 0; }
rx_status rx_cuda_synchronize(void) { return RX_OK; }

rx_status rx_cuda_graph_begin(rx_device device)
{
    (void)device;
    return rx_fail(RX_ERR_UNSUPPORTED, "cuda graph: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

rx_status rx_cuda_graph_end(rx_device device, rx_cuda_graph **out)
{
    (void)device;
    if (out) *out = NULL;
    return rx_fail(RX_ERR_UNSUPPORTED, "cuda graph: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

rx_status rx_cuda_graph_replay(rx_cuda_graph *graph)
{
    (void)graph;
    return rx_fail(RX_ERR_UNSUPPORTED, "cuda graph: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

int64_t rx_cuda_graph_nodes(const rx_cuda_graph *graph) { (void)graph; return 0; }
void rx_cuda_graph_free(rx_cuda_graph *graph) { (void)graph; }
int rx_cuda_graph_capturing(rx_device device) { (void)device; return 0; }

rx_status rx_id_ring_new(rx_device device, int64_t rows, rx_id_ring **out)
{
    (void)device, (void)rows;
    *out = NULL;
    return rx_fail(RX_ERR_UNSUPPORTED, "id ring: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

rx_status rx_id_ring_push(rx_id_ring *ring, rx_tensor *ids)
{
    (void)ring, (void)ids;
    return rx_fail(RX_ERR_UNSUPPORTED, "id ring: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

rx_status rx_id_ring_wait(rx_id_ring *ring, int64_t k, int64_t *out)
{
    (void)ring, (void)k, (void)out;
    return rx_fail(RX_ERR_UNSUPPORTED, "id ring: this recx was built without CUDA (configure with -DRECX_CUDA=ON)");
}

int64_t rx_id_ring_rows(const rx_id_ring *ring) { (void)ring; return 0; }
void rx_id_ring_free(rx_id_ring *ring) { (void)ring; }
#endif

int rx_device_capturing(rx_device device) { return device.type == RX_CUDA && rx_cuda_graph_capturing(device); }
