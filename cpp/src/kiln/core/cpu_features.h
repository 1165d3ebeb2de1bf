// Run-time CPU feature checks for kernels that carry an AVX2 variant beside their portable loop.
#pragma once

namespace kiln::core {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KILN_HAVE_AVX2_DISPATCH 1
/// True when this x86-64 CPU runs AVX2. The CPU model is initialised here, on first use, so the
/// answer is right even if asked during static initialisation.
inline bool HasAvx2() {
  static const bool avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  return avx2;
}
#endif

}  // namespace kiln::core
