// The one place that hides differences between libtorch 1.13 and 2.x.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_utils.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <string>

namespace steepest::compat {

// Key of a parameter in torch::optim::Optimizer::state_: a stringified
// TensorImpl pointer in 1.13, the raw pointer in 2.x.
#if TORCH_VERSION_MAJOR >= 2
inline void* state_key(const at::Tensor& p) {
  return p.unsafeGetTensorImpl();
}
#else
inline std::string state_key(const at::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}
#endif

// Clears every gradient of `opt` (set to undefined, as 2.x does by default),
// so a parameter that gets no gradient next step is skipped, not decayed.
inline void zero_grad(torch::optim::Optimizer& opt) {
#if TORCH_VERSION_MAJOR >= 2
  opt.zero_grad(/*set_to_none=*/true);
#else
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
#endif
}

// Whether a c10d TCPStore server can take a listening socket we bound
// (TCPStoreOptions::masterListenFd, PyTorch 2.x): then the rendezvous listens
// on MASTER_ADDR alone. 1.13's server always binds every interface.
constexpr bool kStoreAdoptsListeningSocket = TORCH_VERSION_MAJOR >= 2;

// Hands `fd` (bound and listening) to the store server of `options` (a
// c10d::TCPStoreOptions; a template, so this header needs no c10d include).
template <typename StoreOptions>
void adopt_listening_socket(StoreOptions& options, int fd) {
#if TORCH_VERSION_MAJOR >= 2
  options.masterListenFd = fd;
#else
  (void)options;
  (void)fd;
#endif
}

}  // namespace steepest::compat
