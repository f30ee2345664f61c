/* Shared definitions for the ribo OpenCL kernels; placed first when the sources are embedded
 * (cmake/embed_sources.cmake, order fixed in CMakeLists.txt). Buffers are passed as
 * (base pointer, element offset) pairs so one allocation can hold many tensors. The sizes shared
 * with the host (RIBO_MAX_HEAD_DIM, RIBO_LN_WG) come as -D build options from opencl_kernels.c. */
#define PTR(base, off) ((base) + (off))
