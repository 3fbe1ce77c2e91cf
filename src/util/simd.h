// Internal: compile a hot loop once per ISA and let the loader pick.
//
// STEEPEST_SIMD marks a function to be compiled for x86-64-v3 (AVX2 + FMA)
// and the baseline ISA (GCC function multiversioning; an "arch=haswell" clone
// would only be taken on Intel CPUs, x86-64-v3 on any CPU with the features).
// Other compilers and targets get one baseline build. STEEPEST_INLINE helpers
// are inlined into each clone and so vectorized for its ISA.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#if __GNUC__ >= 12
#define STEEPEST_SIMD __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STEEPEST_SIMD __attribute__((target_clones("avx2", "default")))
#endif
#else
#define STEEPEST_SIMD
#endif
#define STEEPEST_INLINE inline __attribute__((always_inline))
