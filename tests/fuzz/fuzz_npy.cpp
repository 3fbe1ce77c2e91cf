// libFuzzer target: read_npy on arbitrary bytes. A file it accepts must also
// survive write_npy → read_npy unchanged, bit for bit.
#include <cstring>

#include "fuzz/fuzz_util.h"
#include "steepest/io/npy.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_npy");
  static const std::string path = dir + "/input.npy", copy = dir + "/copy.npy";
  fuzz::write_input(path, data, size);
  at::Tensor t;
  fuzz::expect_clean_refusal(path, [&] { t = read_npy(path); });
  if (!t.defined()) return 0;
  if (!t.is_contiguous() || (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble))
    fuzz::finding("read_npy returned a non-contiguous or non-float tensor");
  write_npy(copy, t);
  const at::Tensor back = read_npy(copy);
  const auto bytes = static_cast<size_t>(t.numel() * t.element_size());
  // memcmp, not at::equal: NaN payloads must survive too.
  if (back.sizes() != t.sizes() || back.scalar_type() != t.scalar_type() ||
      (bytes > 0 && std::memcmp(back.data_ptr(), t.data_ptr(), bytes) != 0))
    fuzz::finding("write_npy → read_npy changed the array");
  return 0;
}
