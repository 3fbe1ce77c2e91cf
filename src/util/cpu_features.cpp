#include "steepest/util/cpu_features.h"

#include <fstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace steepest {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct Cpuid {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Cpuid cpuid(unsigned leaf, unsigned sub) {
  Cpuid r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return Cpuid{};
  return r;
}

// XCR0 bits the OS must enable for AVX-512 (opmask, upper ZMM, ZMM16-31).
bool os_saves_avx512() {
  if (!(cpuid(1, 0).c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6;
}
#endif

}  // namespace

bool cpu_has_native_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    if (cpuid(0, 0).a < 7) return false;
    const bool avx512_bf16 = cpuid(7, 1).a & (1u << 5);
    const bool amx_bf16 = cpuid(7, 0).d & (1u << 22);
    return (avx512_bf16 || amx_bf16) && os_saves_avx512();
  }();
  return has;
#else
  return false;
#endif
}

std::string cpu_summary() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU", flags;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    if (key == "model name" && model == "unknown CPU") model = line.substr(colon + 2);
    if (key == "flags" && flags.empty()) {
      const std::string all = " " + line.substr(colon + 1) + " ";
      for (const char* f : {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
        if (all.find(std::string(" ") + f + " ") != std::string::npos)
          flags += std::string(flags.empty() ? "" : " ") + f;
    }
  }
  return model + " (" + (flags.empty() ? "no AVX2" : flags) + ")";
}

}  // namespace steepest
