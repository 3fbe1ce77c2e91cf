// What the CPU this process runs on can do, checked at run time (machines of
// one kind differ: some have AVX-512 BF16 and AMX, some only AVX2).
#pragma once

#include <string>

namespace steepest {

// True when the CPU multiplies bf16 natively (AVX512_BF16 or AMX-BF16, with
// the OS saving the AVX-512 state), so that libtorch's oneDNN bf16 GEMMs run
// at hardware speed; false on x86 CPUs without them (bf16 is then emulated
// and slower than fp32) and on other architectures.
bool cpu_has_native_bf16();

// The CPU's model name and the flags that matter for our speeds
// ("avx2 avx512f avx512_bf16 amx_bf16"), for benchmark records.
std::string cpu_summary();

}  // namespace steepest
