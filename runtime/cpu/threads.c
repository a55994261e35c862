/* threads.c — the number of CPU threads used by OpenMP kernels and by OpenBLAS. */
#include "cpu_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int num_threads); /* from OpenBLAS's cblas.h */

static int default_threads;

void rx_set_num_threads(int n)
{
#ifdef _OPENMP
    if (!default_threads) default_threads = omp_get_max_threads();
    omp_set_num_threads(n > 0 ? n : default_threads);
#endif
    openblas_set_num_threads(n > 0 ? n : (default_threads ? default_threads : 1));
}

int rx_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
