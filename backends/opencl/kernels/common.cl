/* Shared definitions for the ribo OpenCL kernels; placed first when the sources are embedded
 * (cmake/embed_sources.cmake, order fixed in CMakeLists.txt). Buffers are passed as
 * (base pointer, element offset) pairs so one allocation can hold many tensors. */
#define RIBO_MAX_HEAD_DIM 128
#define PTR(base, off) ((base) + (off))
