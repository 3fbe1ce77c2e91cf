#include "util/onednn_matmul.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>

// The C API below is oneDNN 2.x's (libdnnl-dev); 3.x removed parts of it
// (matmul_desc_init, output scales), and PyTorch 2.x wheels put 3.x headers
// ahead of it in torch/include, where no libdnnl.so.2 is loaded either.
#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#if DNNL_VERSION_MAJOR == 2
#define STEEPEST_ONEDNN_HEADER 1
#endif
#endif

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "util/loaded_symbol.h"
#include "util/shape_text.h"

#ifdef STEEPEST_ONEDNN_HEADER
namespace steepest::detail {
namespace {

// The C API functions used, found in the loaded libdnnl (types from the
// dnnl.h compiled against; its major version must match the library's).
#define STEEPEST_DNNL_FUNCTIONS(X)           \
  X(dnnl_version)                            \
  X(dnnl_engine_create)                      \
  X(dnnl_stream_create)                      \
  X(dnnl_stream_wait)                        \
  X(dnnl_stream_destroy)                     \
  X(dnnl_memory_desc_init_by_strides)        \
  X(dnnl_memory_create)                      \
  X(dnnl_memory_destroy)                     \
  X(dnnl_matmul_desc_init)                   \
  X(dnnl_primitive_attr_create)              \
  X(dnnl_primitive_attr_destroy)             \
  X(dnnl_primitive_attr_set_output_scales)   \
  X(dnnl_primitive_attr_set_post_ops)        \
  X(dnnl_primitive_attr_set_scratchpad_mode) \
  X(dnnl_primitive_desc_query_md)            \
  X(dnnl_memory_desc_get_size)               \
  X(dnnl_post_ops_create)                    \
  X(dnnl_post_ops_destroy)                   \
  X(dnnl_post_ops_append_binary)             \
  X(dnnl_post_ops_append_eltwise)            \
  X(dnnl_primitive_desc_create)              \
  X(dnnl_primitive_desc_query)               \
  X(dnnl_primitive_desc_destroy)             \
  X(dnnl_primitive_create)                   \
  X(dnnl_primitive_destroy)                  \
  X(dnnl_primitive_execute)

struct Api {
#define STEEPEST_DNNL_POINTER(name) decltype(&::name) name = nullptr;
  STEEPEST_DNNL_FUNCTIONS(STEEPEST_DNNL_POINTER)
#undef STEEPEST_DNNL_POINTER
  dnnl_engine_t engine = nullptr;
  bool ok = false;
};

template <typename Fn>
bool find(Fn* fn, const char* name) {
  *fn = loaded_symbol<Fn>(name, {"libdnnl.so.2", "libdnnl.so"});
  return *fn != nullptr;
}

Api load_api() {
  Api api;
  bool all = true;
#define STEEPEST_DNNL_FIND(name) all = find(&api.name, #name) && all;
  STEEPEST_DNNL_FUNCTIONS(STEEPEST_DNNL_FIND)
#undef STEEPEST_DNNL_FIND
  // Structs such as dnnl_memory_desc_t change between major versions only.
  if (!all || api.dnnl_version()->major != DNNL_VERSION_MAJOR) return api;
  api.ok = api.dnnl_engine_create(&api.engine, dnnl_cpu, 0) == dnnl_success;
  return api;
}

const Api& api() {
  static const Api instance = load_api();
  return instance;
}

// A CPU stream per thread (they are cheap and not shared across threads),
// destroyed when the thread ends: rank threads come and go.
struct ThreadStream {
  dnnl_stream_t stream = nullptr;
  ~ThreadStream() {
    if (stream != nullptr) api().dnnl_stream_destroy(stream);
  }
};

dnnl_stream_t thread_stream() {
  thread_local ThreadStream holder;
  if (holder.stream == nullptr &&
      api().dnnl_stream_create(&holder.stream, api().engine, dnnl_stream_default_flags) !=
          dnnl_success)
    holder.stream = nullptr;
  return holder.stream;
}

// One cached primitive. state: 0 = being checked against libtorch by the
// thread that built it, 1 = checked, 2 = unusable (no kernel, or it
// disagreed with libtorch).
// The scratchpad is the calling thread's (user scratchpad mode), as libtorch's
// ideep does: oneDNN documents the library-managed one as unsafe when
// threads (sharded ranks in one process) run primitives at once.
struct Entry {
  dnnl_primitive_t primitive = nullptr;
  // The operands' descriptors, fixed by the key: a, b, out, self (if any).
  dnnl_memory_desc_t a_md{}, b_md{}, out_md{}, self_md{};
  dnnl_memory_desc_t scratchpad_md{};
  size_t scratchpad_bytes = 0;
  std::atomic<int> state{0};
  ~Entry() {
    if (primitive != nullptr) api().dnnl_primitive_destroy(primitive);
  }
};

// Dims and strides as oneDNN reads them; a dim of size 1 or stride 0 in
// `self` is a broadcast (dims 1).
void describe(const at::Tensor& t, int ndims, dnnl_dims_t dims, dnnl_dims_t strides) {
  const int pad = ndims - static_cast<int>(t.dim());
  for (int i = 0; i < ndims; ++i) {
    const bool present = i >= pad;
    const int64_t size = present ? t.size(i - pad) : 1, stride = present ? t.stride(i - pad) : 0;
    dims[i] = stride == 0 ? 1 : size;
    strides[i] = stride == 0 ? 0 : stride;
  }
}

bool describe_md(const at::Tensor& t, int ndims, dnnl_memory_desc_t* md) {
  dnnl_dims_t dims, strides;
  describe(t, ndims, dims, strides);
  const auto type = t.scalar_type() == at::kBFloat16 ? dnnl_bf16 : dnnl_f32;
  return api().dnnl_memory_desc_init_by_strides(md, ndims, dims, type, strides) == dnnl_success;
}

// Everything that selects a primitive: dtype, dims and strides of each
// operand, and the scalars (they live in the primitive's attributes).
std::vector<int64_t> key_of(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b,
                            float beta, float alpha) {
  const int ndims = static_cast<int>(a.dim());
  // oneDNN fixes a primitive's thread count when it is created.
  std::vector<int64_t> key{static_cast<int64_t>(a.scalar_type()), ndims, self.defined(),
                           at::get_num_threads()};
  for (const at::Tensor* t : {&a, &b, &self}) {
    if (!t->defined()) continue;
    dnnl_dims_t dims, strides;
    describe(*t, ndims, dims, strides);
    key.insert(key.end(), dims, dims + ndims);
    key.insert(key.end(), strides, strides + ndims);
  }
  uint32_t bits[2];
  std::memcpy(&bits[0], &beta, sizeof(float));
  std::memcpy(&bits[1], &alpha, sizeof(float));
  key.push_back(bits[0]);
  key.push_back(bits[1]);
  return key;
}

// The primitive for out = beta·self + alpha·(a @ b), or nullptr when oneDNN
// has none. With self: output scale alpha/beta, binary add of self, then
// eltwise linear beta (oneDNN 2.6's brgemm matmul computed wrong results for
// some chains with two eltwise post-ops; this one is checked on first use).
bool create(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, const at::Tensor& out,
            float beta, float alpha, Entry* entry) {
  const Api& f = api();
  const int ndims = static_cast<int>(a.dim());
  if (!describe_md(a, ndims, &entry->a_md) || !describe_md(b, ndims, &entry->b_md) ||
      !describe_md(out, ndims, &entry->out_md) ||
      (self.defined() && !describe_md(self, ndims, &entry->self_md)))
    return false;
  dnnl_matmul_desc_t desc;
  if (f.dnnl_matmul_desc_init(&desc, &entry->a_md, &entry->b_md, nullptr, &entry->out_md) !=
      dnnl_success)
    return false;
  dnnl_primitive_attr_t attr = nullptr;
  dnnl_post_ops_t post_ops = nullptr;
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t primitive = nullptr;
  bool ok =
      f.dnnl_primitive_attr_create(&attr) == dnnl_success &&
      f.dnnl_post_ops_create(&post_ops) == dnnl_success &&
      f.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
  const float scale = self.defined() ? alpha / beta : alpha;
  if (!std::isfinite(scale)) ok = false;  // beta tiny or 0 in fp32: libtorch takes it
  if (ok && scale != 1.0f) ok = f.dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale) == 0;
  if (ok && self.defined()) {
    ok = f.dnnl_post_ops_append_binary(post_ops, dnnl_binary_add, &entry->self_md) == dnnl_success;
    if (ok && beta != 1.0f)
      ok = f.dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_linear, beta, 0.0f) ==
           dnnl_success;
  }
  ok = ok && f.dnnl_primitive_attr_set_post_ops(attr, post_ops) == dnnl_success &&
       f.dnnl_primitive_desc_create(&pd, &desc, attr, f.engine, nullptr) == dnnl_success;
  // oneDNN's reference kernels ("ref:any") are correct but far slower than
  // libtorch's path: leave those shapes to it.
  const char* impl = nullptr;
  ok = ok && f.dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
       impl != nullptr && std::strncmp(impl, "ref", 3) != 0 &&
       f.dnnl_primitive_create(&primitive, pd) == dnnl_success;
  if (ok) {
    const dnnl_memory_desc_t* md = f.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (md != nullptr) {
      entry->scratchpad_md = *md;
      entry->scratchpad_bytes = f.dnnl_memory_desc_get_size(md);
    }
    entry->primitive = primitive;
  } else if (primitive != nullptr) {
    f.dnnl_primitive_destroy(primitive);
  }
  if (pd != nullptr) f.dnnl_primitive_desc_destroy(pd);
  if (post_ops != nullptr) f.dnnl_post_ops_destroy(post_ops);
  if (attr != nullptr) f.dnnl_primitive_attr_destroy(attr);
  return ok;
}

bool execute(const Entry& entry, const at::Tensor& self, const at::Tensor& a, const at::Tensor& b,
             const at::Tensor& out) {
  const Api& f = api();
  dnnl_stream_t stream = thread_stream();
  if (stream == nullptr) return false;
  std::vector<dnnl_exec_arg_t> args;
  bool ok = true;
  auto add = [&](int arg, const dnnl_memory_desc_t& md, const at::Tensor& t) {
    dnnl_memory_t memory = nullptr;
    ok = ok && f.dnnl_memory_create(&memory, &md, f.engine, const_cast<void*>(t.data_ptr())) ==
                   dnnl_success;
    if (memory != nullptr) args.push_back({arg, memory});
  };
  add(DNNL_ARG_SRC, entry.a_md, a);
  add(DNNL_ARG_WEIGHTS, entry.b_md, b);
  add(DNNL_ARG_DST, entry.out_md, out);
  if (self.defined()) add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, entry.self_md, self);
  // One growing buffer per thread: a thread runs one primitive at a time.
  thread_local at::Tensor scratchpad;
  if (ok && entry.scratchpad_bytes > 0) {
    const auto bytes = static_cast<int64_t>(entry.scratchpad_bytes);
    if (!scratchpad.defined() || scratchpad.numel() < bytes)
      scratchpad = at::empty({bytes}, at::kByte);
    add(DNNL_ARG_SCRATCHPAD, entry.scratchpad_md, scratchpad);
  }
  ok = ok &&
       f.dnnl_primitive_execute(entry.primitive, stream, static_cast<int>(args.size()),
                                args.data()) == dnnl_success &&
       f.dnnl_stream_wait(stream) == dnnl_success;
  for (auto& arg : args) f.dnnl_memory_destroy(arg.memory);
  return ok;
}

// A (rows×cols) view that oneDNN reads in place: unit stride in one of the
// last two dims, no broadcast batch, no element aliased (the first-use check
// copies random values into the same layout).
bool readable(const at::Tensor& t) {
  const int64_t s0 = t.stride(-2), s1 = t.stride(-1);
  return (s1 == 1 || s0 == 1) && s0 != 0 && s1 != 0 && (t.dim() == 2 || t.stride(0) != 0) &&
         at::has_internal_overlap(t) != at::MemOverlap::Yes;
}

// Relative Frobenius distance within the dtype's tolerance (a NaN anywhere
// disagrees).
bool agrees(const at::Tensor& got, const at::Tensor& want) {
  const double norm = want.to(at::kDouble).norm().item<double>();
  const double diff = (got.to(at::kDouble) - want.to(at::kDouble)).norm().item<double>();
  // fp32: accumulation order only; bf16: one rounding of the output (2^-8)
  // plus the inputs' products accumulated in another order.
  const double tolerance = got.scalar_type() == at::kBFloat16 ? 3e-2 : 1e-4;
  return diff <= tolerance * std::max(norm, 1e-30);
}

// A tensor of t's sizes, strides and dtype holding seeded normal values.
at::Tensor random_like_layout(const at::Tensor& t, at::Generator& gen) {
  at::Tensor x = at::empty_strided(t.sizes(), t.strides(), t.options());
  x.copy_(at::randn(t.sizes(), gen).to(t.scalar_type()));
  return x;
}

// Runs a new primitive once on random operands of the callers' layout and
// compares with `reference`: the check does not depend on the callers' data
// (zero-initialized layers give all-zero operands at first, which any
// kernel multiplies right), and it runs once per primitive.
bool verified(const Entry& entry, const at::Tensor& self, const at::Tensor& a, const at::Tensor& b,
              double beta, double alpha, at::IntArrayRef out_shape, GemmReference reference) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(20261201);
  const at::Tensor ra = random_like_layout(a, gen), rb = random_like_layout(b, gen);
  const at::Tensor rself = self.defined() ? random_like_layout(self, gen) : at::Tensor();
  const at::Tensor out = at::empty(out_shape, a.options());
  return execute(entry, rself.defined() ? rself.expand(out_shape) : rself, ra, rb, out) &&
         agrees(out, reference(rself, ra, rb, beta, alpha));
}

}  // namespace

bool onednn_matmul_available() {
  return api().ok;
}

at::Tensor onednn_matmul(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b,
                         double beta, double alpha, GemmReference reference) {
  RECORD_FUNCTION("steepest::onednn_matmul", std::vector<c10::IValue>());
  const auto dtype = a.scalar_type();
  const bool batched = a.dim() == 3;
  const bool with_self = self.defined() && beta != 0.0;
  if (!api().ok || (dtype != at::kFloat && dtype != at::kBFloat16) || b.scalar_type() != dtype ||
      !a.device().is_cpu() || !b.device().is_cpu() || (a.dim() != 2 && !batched) ||
      b.dim() != a.dim() || a.numel() == 0 || b.numel() == 0 || a.size(-1) != b.size(-2) ||
      (batched && a.size(0) != b.size(0)) || !readable(a) || !readable(b) ||
      (at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad())))
    return at::Tensor();
  const int64_t m = a.size(-2), n = b.size(-1);
  const auto out_shape =
      batched ? std::vector<int64_t>{a.size(0), m, n} : std::vector<int64_t>{m, n};
  at::Tensor addend;
  if (with_self) {
    if (self.scalar_type() != dtype || !self.device().is_cpu() || self.dim() > a.dim() ||
        at::has_internal_overlap(self) == at::MemOverlap::Yes ||
        (at::GradMode::is_enabled() && self.requires_grad()))
      return at::Tensor();
    addend = self.expand(out_shape);  // a view: broadcast dims get stride 0
  }
  const float f_beta = with_self ? static_cast<float>(beta) : 0.0f;
  const float f_alpha = static_cast<float>(alpha);

  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::shared_ptr<Entry>> cache;
  const auto key = key_of(addend, a, b, f_beta, f_alpha);
  at::Tensor out = at::empty(out_shape, a.options());
  std::shared_ptr<Entry> entry;
  bool built_here = false;
  {
    std::lock_guard<std::mutex> lock(mutex);
    // Shapes that change every call (generation's growing context) would
    // grow the cache without end; primitives in use outlive a reset.
    // Rejected entries are kept, so a bad primitive is not rebuilt and warned
    // about again (unless they alone fill the cache).
    if (cache.size() >= 1024) {
      for (auto it = cache.begin(); it != cache.end();)
        it = it->second->state.load() == 2 ? std::next(it) : cache.erase(it);
      if (cache.size() >= 1024) cache.clear();
    }
    auto& slot = cache[key];
    if (!slot) {
      slot = std::make_shared<Entry>();
      built_here = true;
      if (!create(addend, a, b, out, f_beta, f_alpha, slot.get())) slot->state = 2;
    }
    entry = slot;
  }
  // Checked outside the lock (the reference may take a while); other threads
  // meanwhile take libtorch's path.
  if (built_here && entry->state.load() == 0) {
    const bool ok = verified(*entry, with_self ? self : at::Tensor(), a, b, with_self ? beta : 0.0,
                             alpha, out_shape, reference);
    entry->state = ok ? 1 : 2;
    if (!ok)
      std::fprintf(stderr,
                   "steepest: warning: oneDNN's matmul primitive disagreed with libtorch on "
                   "%s @ %s %s; GEMMs of this shape run on libtorch from now on\n",
                   shape_text(a.sizes()).c_str(), shape_text(b.sizes()).c_str(),
                   dtype == at::kBFloat16 ? "bf16" : "fp32");
  }
  if (entry->state.load() != 1 || !execute(*entry, addend, a, b, out)) return at::Tensor();
  return out;
}

}  // namespace steepest::detail

#else  // no oneDNN 2.x dnnl.h at build time: everything runs on the other paths.

namespace steepest::detail {
bool onednn_matmul_available() {
  return false;
}
at::Tensor onednn_matmul(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, double,
                         GemmReference) {
  return at::Tensor();
}
}  // namespace steepest::detail

#endif
