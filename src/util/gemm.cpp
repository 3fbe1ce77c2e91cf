#include "util/gemm.h"

#include <ATen/core/grad_mode.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "steepest/util/gemm_backend.h"
#include "util/loaded_symbol.h"
#include "util/onednn_matmul.h"

namespace steepest {
namespace {

// oneDNN's row-major C API (dnnl.h of oneDNN 2.x): C = alpha·op(A)·op(B) + beta·C.
using DnnlSgemm = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                          float* C, int64_t ldc);

DnnlSgemm dnnl() {
  static const DnnlSgemm f = detail::loaded_symbol<DnnlSgemm>(
      "dnnl_sgemm", {"libdnnl.so.2", "libdnnl.so.3", "libdnnl.so"});
  return f;
}

std::atomic<GemmBackend> g_backend{GemmBackend::Auto};

bool use_dnnl() {
  return g_backend.load(std::memory_order_relaxed) != GemmBackend::Aten && dnnl() != nullptr;
}

bool use_dnnl_matmul() {
  const GemmBackend b = g_backend.load(std::memory_order_relaxed);
  return (b == GemmBackend::Auto || b == GemmBackend::Dnnl) && detail::onednn_matmul_available();
}

// One operand as oneDNN sees it: transposed or not, and its leading dimension.
struct Operand {
  char trans;
  int64_t ld;
};

// A (rows×cols) view with unit stride in one dim, or nothing.
bool operand_of(const at::Tensor& t, Operand* op) {
  const int64_t r = t.size(-2), c = t.size(-1), s0 = t.stride(-2), s1 = t.stride(-1);
  if (s1 == 1 && (s0 >= std::max<int64_t>(c, 1) || r == 1)) {
    *op = {'N', std::max<int64_t>(s0, std::max<int64_t>(c, 1))};
    return true;
  }
  if (s0 == 1 && (s1 >= std::max<int64_t>(r, 1) || c == 1)) {
    *op = {'T', std::max<int64_t>(s1, std::max<int64_t>(r, 1))};
    return true;
  }
  return false;
}

at::Tensor aten_addmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                      double alpha) {
  if (a.dim() == 2) {
    if (!self.defined()) return alpha == 1.0 ? at::mm(a, b) : at::mm(a, b).mul_(alpha);
    return at::addmm(self, a, b, beta, alpha);
  }
  if (!self.defined()) return alpha == 1.0 ? at::bmm(a, b) : at::bmm(a, b).mul_(alpha);
  return at::baddbmm(self, a, b, beta, alpha);
}

}  // namespace

void set_gemm_backend(GemmBackend backend) {
  g_backend.store(backend);
}

GemmBackend gemm_backend() {
  return g_backend.load();
}

bool dnnl_sgemm_available() {
  return dnnl() != nullptr;
}

bool dnnl_matmul_available() {
  return detail::onednn_matmul_available();
}

std::string gemm_backend_name() {
  if (use_dnnl_matmul()) return "onednn";
  return use_dnnl() ? "onednn-sgemm" : "libtorch";
}

std::string openblas_core_name() {
  const auto f = detail::loaded_symbol<char* (*)()>("openblas_get_corename",
                                                    {"libopenblas.so.0", "libblas.so.3"});
  return f != nullptr ? std::string(f()) : std::string();
}

namespace detail {

at::Tensor addmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                 double alpha) {
  // The primitive serves bf16 and batched fp32 (the Newton–Schulz
  // iterations). 2-D fp32 (the model's linears) stays on dnnl_sgemm: as fast
  // there (docs/BENCHMARKS.md), and sampling's growing context would build
  // and check a primitive for every new length.
  if (use_dnnl_matmul() && (a.scalar_type() == at::kBFloat16 || a.dim() == 3)) {
    at::Tensor out = onednn_matmul(self, a, b, beta, alpha, aten_addmm);
    if (out.defined()) return out;
  }
  // bf16 that the matmul primitive did not take (no AVX512_BF16/AMX, or it
  // declined the layout): libtorch 1.13's CPU fallback loses accuracy with the inner
  // dimension (a keller msign step 26-29% from fp32's at 128-512 wide, against
  // < 5% with fp32 accumulation). Compute what bf16 units do instead: the bf16
  // operands, exactly widened, multiplied and summed in fp32, rounded once.
  if (gemm_backend() != GemmBackend::Aten && a.scalar_type() == at::kBFloat16 &&
      b.scalar_type() == at::kBFloat16 && a.device().is_cpu() && b.device().is_cpu() &&
      (!at::GradMode::is_enabled() || (!a.requires_grad() && !b.requires_grad()))) {
    const at::Tensor self32 = self.defined() ? self.to(at::kFloat) : self;
    return addmm(self32, a.to(at::kFloat), b.to(at::kFloat), beta, alpha).to(at::kBFloat16);
  }
  const bool batched = a.dim() == 3;
  Operand oa{}, ob{};
  const bool fits = use_dnnl() && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
                    a.device().is_cpu() && b.device().is_cpu() && (a.dim() == 2 || batched) &&
                    b.dim() == a.dim() && (!self.defined() || self.scalar_type() == at::kFloat) &&
                    (!at::GradMode::is_enabled() || (!a.requires_grad() && !b.requires_grad())) &&
                    operand_of(a, &oa) && operand_of(b, &ob) &&
                    (!batched || a.size(0) == b.size(0));
  if (!fits || a.numel() == 0 || b.numel() == 0) return aten_addmm(self, a, b, beta, alpha);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  TORCH_CHECK(b.size(-2) == k, "addmm: a is ", a.sizes(), ", b is ", b.sizes());
  at::Tensor out;
  float f_beta = 0.0f;
  if (self.defined() && beta != 0.0) {
    out = self.expand(batched ? at::IntArrayRef{a.size(0), m, n} : at::IntArrayRef{m, n})
              .contiguous();
    if (out.data_ptr() == self.data_ptr()) out = out.clone();  // never write into self
    f_beta = static_cast<float>(beta);
  } else {
    out =
        at::empty(batched ? at::IntArrayRef{a.size(0), m, n} : at::IntArrayRef{m, n}, a.options());
  }
  const int64_t batch = batched ? a.size(0) : 1;
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* pc = out.data_ptr<float>();
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t sa = batched ? a.stride(0) : 0, sb = batched ? b.stride(0) : 0;
    const int status = dnnl()(oa.trans, ob.trans, m, n, k, static_cast<float>(alpha), pa + i * sa,
                              oa.ld, pb + i * sb, ob.ld, f_beta, pc + i * m * n, n);
    TORCH_CHECK(status == 0, "oneDNN sgemm failed with status ", status, " for ", a.sizes(), " @ ",
                b.sizes());
  }
  return out;
}

}  // namespace detail
}  // namespace steepest
