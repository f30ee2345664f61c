# HIP backend (AMD GPUs): the CUDA sources of backends/cuda compiled as HIP through
# backends/cuda/vendor/hip.h, with backends/hip for what cannot be shared (GEMMs through rocBLAS,
# loaded at run time; the MFMA attention kernel). RIBO_HIP=AUTO|ON|OFF.
#
# One GPU backend per build: the HIP objects reuse the CUDA sources' symbol names, so a build has
# the CUDA backend or the HIP backend (plus OpenCL either way). AUTO builds HIP only where CUDA is
# not built (configure with -DRIBO_CUDA=OFF -DRIBO_HIP=ON on a machine that has both toolchains).
#
# CMAKE_HIP_ARCHITECTURES defaults to what the found compiler can build: gfx908 (MI100), gfx90a
# (MI200), gfx940 and gfx1030 (RDNA2) with LLVM 15 (Debian 12's ROCm 5.2); LLVM >= 17 (ROCm >= 6)
# adds gfx942 (MI300X/A) and gfx1100 (RDNA3). Set it yourself for your GPU, e.g.
# -DCMAKE_HIP_ARCHITECTURES=gfx942.
set(RIBO_HIP "AUTO" CACHE STRING "Build the HIP backend for AMD GPUs (AUTO, ON, OFF)")
set_property(CACHE RIBO_HIP PROPERTY STRINGS AUTO ON OFF)
set(RIBO_HAVE_HIP OFF)

if(RIBO_HIP STREQUAL "ON" AND RIBO_HAVE_CUDA)
  message(FATAL_ERROR "RIBO_HIP=ON together with the CUDA backend: one GPU backend per build "
                      "(add -DRIBO_CUDA=OFF)")
endif()

if(NOT RIBO_HIP STREQUAL "OFF" AND NOT RIBO_HAVE_CUDA)
  # Debian's ROCm (multiarch layout) needs a prelude before enable_language(HIP) with CMake 3.25:
  # hip-lang's config is under lib/x86_64-linux-gnu/cmake, the device libraries under amdgcn/bitcode,
  # and the compiler is clang++-15 with --rocm-path (../shared/notes/hip.md, section 1.3). A real ROCm
  # install (/opt/rocm) does not trigger it.
  set(RIBO_DEBIAN_HIP_LANG /usr/lib/x86_64-linux-gnu/cmake/hip-lang/hip-lang-config.cmake)
  set(RIBO_DEBIAN_BITCODE /usr/lib/x86_64-linux-gnu/amdgcn/bitcode)
  if(NOT DEFINED CMAKE_HIP_COMPILER_ROCM_ROOT AND EXISTS ${RIBO_DEBIAN_HIP_LANG} AND NOT EXISTS /usr/lib/cmake/hip-lang
     AND NOT EXISTS /opt/rocm/lib/cmake/hip-lang)
    find_program(RIBO_DEBIAN_CLANG_HIP NAMES clang++-15 clang++-16 clang++-17)
    if(RIBO_DEBIAN_CLANG_HIP AND EXISTS ${RIBO_DEBIAN_BITCODE})
      file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/rocm-root/lib)
      if(NOT EXISTS ${CMAKE_BINARY_DIR}/rocm-root/lib/cmake)
        file(CREATE_LINK /usr/lib/x86_64-linux-gnu/cmake ${CMAKE_BINARY_DIR}/rocm-root/lib/cmake SYMBOLIC)
      endif()
      set(CMAKE_HIP_COMPILER_ROCM_ROOT ${CMAKE_BINARY_DIR}/rocm-root)
      set(ENV{CMAKE_PREFIX_PATH} "/usr/lib/x86_64-linux-gnu/cmake") # try_compile must find amd_comgr
      if(NOT CMAKE_HIP_COMPILER)
        set(CMAKE_HIP_COMPILER ${RIBO_DEBIAN_CLANG_HIP})
      endif()
      set(CMAKE_HIP_FLAGS "${CMAKE_HIP_FLAGS} --rocm-path=/usr --rocm-device-lib-path=${RIBO_DEBIAN_BITCODE}")
      set(RIBO_HIP_TOOLCHAIN "Debian ROCm (${RIBO_DEBIAN_CLANG_HIP})")
    endif()
  endif()
  include(CheckLanguage)
  check_language(HIP)
  if(CMAKE_HIP_COMPILER)
    if(NOT DEFINED CMAKE_HIP_ARCHITECTURES)
      # the default is chosen before enable_language, which would otherwise ask rocm_agent_enumerator
      # (a GPU on this machine); the compiler's major version decides which targets it knows
      execute_process(COMMAND ${CMAKE_HIP_COMPILER} --version OUTPUT_VARIABLE RIBO_HIP_CC_VERSION ERROR_QUIET)
      string(REGEX MATCH "clang version ([0-9]+)" _ribo_m "${RIBO_HIP_CC_VERSION}")
      set(RIBO_HIP_LLVM_MAJOR "${CMAKE_MATCH_1}")
      if(RIBO_HIP_LLVM_MAJOR AND RIBO_HIP_LLVM_MAJOR GREATER_EQUAL 17)
        set(CMAKE_HIP_ARCHITECTURES gfx908 gfx90a gfx942 gfx1030 gfx1100)
      else()
        set(CMAKE_HIP_ARCHITECTURES gfx908 gfx90a gfx940 gfx1030)
      endif()
    endif()
    enable_language(HIP)
    find_library(RIBO_AMDHIP64_LIBRARY amdhip64 HINTS ${CMAKE_HIP_COMPILER_ROCM_ROOT}/lib /opt/rocm/lib)
    if(RIBO_AMDHIP64_LIBRARY)
      set(RIBO_HAVE_HIP ON)
    endif()
  endif()
  if(RIBO_HIP STREQUAL "ON" AND NOT RIBO_HAVE_HIP)
    message(FATAL_ERROR "RIBO_HIP=ON but no HIP compiler or libamdhip64 was found (Debian 12: apt-get install "
                        "hipcc libamdhip64-dev rocm-device-libs; or ROCm in /opt/rocm)")
  endif()
endif()

if(RIBO_HAVE_HIP)
  file(GLOB RIBO_HIP_SHARED_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backends/cuda/*.cu)
  # what AMD gets from backends/hip instead: rocBLAS for cuBLASLt, MFMA for the mma.sync attention
  list(REMOVE_ITEM RIBO_HIP_SHARED_SOURCES ${PROJECT_SOURCE_DIR}/backends/cuda/cuda_gemm.cu
       ${PROJECT_SOURCE_DIR}/backends/cuda/cuda_attention_mma.cu)
  file(GLOB RIBO_HIP_OWN_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backends/hip/*.cu)
  file(GLOB RIBO_HIP_C_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/backends/hip/*.c)
  set(RIBO_HIP_SOURCES ${RIBO_HIP_SHARED_SOURCES} ${RIBO_HIP_OWN_SOURCES})
  set_source_files_properties(${RIBO_HIP_SOURCES} PROPERTIES LANGUAGE HIP)
  # files without kernels: host pass only (their host function tables have no device twin)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/backends/cuda/cuda_device.cu
    ${PROJECT_SOURCE_DIR}/backends/cuda/cuda_error.cu PROPERTIES COMPILE_OPTIONS --cuda-host-only)
  # the device open refuses a GPU whose ISA has no code object here (cuda_device.cu: hip_check_isa)
  string(REPLACE ";" "," RIBO_HIP_TARGETS_CSV "${CMAKE_HIP_ARCHITECTURES}")
  set_property(SOURCE ${PROJECT_SOURCE_DIR}/backends/cuda/cuda_device.cu APPEND PROPERTY COMPILE_DEFINITIONS
    "RIBO_HIP_TARGETS=\"${RIBO_HIP_TARGETS_CSV}\"")
  # -Wno-unused-result: HIP declares hipError_t [[nodiscard]]; the backend drops a status only where
  # it clears or cleans up (cudaGetLastError after a handled error, frees on the way out)
  set(RIBO_HIP_FLAGS -std=c++20 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
      -Wno-unused-result)
  if(RIBO_WERROR)
    list(APPEND RIBO_HIP_FLAGS -Werror)
  endif()
  list(APPEND RIBO_CORE_SOURCES ${RIBO_HIP_SOURCES} ${RIBO_HIP_C_SOURCES})
  list(APPEND RIBO_BACKEND_DEFS RIBO_WITH_HIP=1)
  list(APPEND RIBO_BACKEND_LIBS ${RIBO_AMDHIP64_LIBRARY} ${CMAKE_DL_LIBS})
  message(STATUS "ribo HIP: ${CMAKE_HIP_COMPILER} ${RIBO_HIP_TOOLCHAIN} targets ${CMAKE_HIP_ARCHITECTURES}")
endif()
if(RIBO_HAVE_HIP)
  # programs that link the HIP objects are linked by the HIP compiler, which CMake hands
  # --offload-arch (used only with -fgpu-rdc); keep the link lines quiet
  add_link_options($<$<LINK_LANGUAGE:HIP>:-Wno-unused-command-line-argument>)
endif()
