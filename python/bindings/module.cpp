// steepest._C: the thin pybind11 layer under `import steepest` (python/steepest/).
// Every optimizer, orthogonalizer and duality map is the C++ one; Python tensors
// are passed as the same at::Tensor (same TensorImpl and storage), so a step
// updates the user's parameters in place and reads their .grad directly.
#include <torch/extension.h>

#include <torch/optim/adamw.h>

#include <cmath>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "steepest/compat.h"
#include "steepest/io/zip_check.h"
#include "steepest/linalg/compute_dtype.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/norms/norm.h"
#include "steepest/optim/composite.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/registry.h"
#include "steepest/util/threads.h"

namespace py = pybind11;

namespace steepest::python {
namespace {

// Keyword arguments arrive as a JSON object text (python/steepest/optim.py
// writes it with json.dumps), so registry.h's checks and messages apply as they
// do to `--opt` and training configs.
nlohmann::json parse_overrides(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    if (!j.is_object()) throw std::invalid_argument("hyperparameters must be a mapping");
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("hyperparameters are not valid JSON: ") + e.what());
  }
}

// One optimizer over the user's tensors: a single registry optimizer or a
// whole-model hybrid, both as a CompositeOptimizer.
class Handle {
 public:
  // `name` over exactly these parameters (no routing).
  static std::unique_ptr<Handle> single(const std::string& name,
                                        const std::vector<NamedParameter>& params, double lr,
                                        const std::string& overrides, double weight_decay,
                                        int64_t total_steps) {
    TORCH_CHECK(!params.empty(), "optimizer '", name, "': no parameters were given");
    auto h = std::make_unique<Handle>();
    h->owned_ =
        single_optimizer(name, params, lr, parse_overrides(overrides), total_steps, weight_decay);
    h->composite_ = h->owned_.get();
    return h;
  }

  // The trainer's routing (optim/model_optimizer.h): a hidden-matrix
  // optimizer gets the hidden matrices and AdamW the rest.
  static std::unique_ptr<Handle> model(const std::string& name,
                                       const std::vector<NamedParameter>& params,
                                       const std::vector<bool>& is_embedding, double lr,
                                       double adamw_lr, const std::string& overrides,
                                       double weight_decay, int64_t total_steps) {
    ModelOptimizerOptions o;
    o.name = name;
    o.lr = lr;
    o.adamw_lr = adamw_lr;
    o.weight_decay = weight_decay;
    o.opt = parse_overrides(overrides);
    o.total_steps = total_steps;
    auto h = std::make_unique<Handle>();
    h->model_ = std::make_unique<ModelOptimizer>(TrainableParameters{params, is_embedding}, o);
    h->composite_ = &h->model_->composite();
    return h;
  }

  // Steps are serialized per optimizer: step() runs without the GIL, and two
  // Python threads stepping one optimizer at once would race on its state
  // (creating buffers, the fused pass). The lock is taken with the GIL released,
  // so a thread waiting here never blocks the one stepping.
  void step() {
    py::gil_scoped_release no_gil;  // pure C++ on tensors the caller keeps alive
    std::lock_guard<std::mutex> lock(mutex_);
    composite_->step();
  }

  size_t parts() const { return composite_->parts(); }
  std::string part_key(size_t i) const { return composite_->part_key(i); }

  // Parameters of part i, in its groups' order.
  std::vector<at::Tensor> part_params(size_t i) const {
    std::vector<at::Tensor> out;
    for (const auto& g : composite_->part(i).param_groups())
      for (const auto& p : g.params()) out.push_back(p);
    return out;
  }
  double part_lr(size_t i) const {
    return composite_->part(i).param_groups().front().options().get_lr();
  }
  // Every group of part i to `lr` (torch.optim.lr_scheduler edits Python's
  // param_groups; step() copies them here first).
  void set_part_lr(size_t i, double lr) {
    if (!std::isfinite(lr) || lr < 0)
      throw std::invalid_argument("learning rate must be a finite number >= 0, got " +
                                  std::to_string(lr));
    const auto lock = locked();
    for (auto& g : composite_->part(i).param_groups()) g.options().set_lr(lr);
  }

  std::string table() const { return composite_->table(); }
  py::dict cost() const {
    const Cost c = composite_->last_step_cost();
    py::dict d;
    d["gemms"] = c.gemms;
    d["flops"] = c.total_flops();
    return d;
  }
  int64_t state_bytes() const { return composite_->state_bytes(); }

  // What the optimizer keeps for p: {"step": n, buffer: tensor, …} (the
  // tensors themselves, not copies); empty before p's first step.
  py::dict state(const at::Tensor& p) {
    const auto lock = locked();
    py::dict d;
    for (size_t i = 0; i < composite_->parts(); ++i) {
      auto& part = composite_->part(i);
      const auto it = part.state().find(compat::state_key(p));
      if (it == part.state().end()) continue;
      if (const auto* ts = dynamic_cast<const TensorState*>(it->second.get())) {
        d["step"] = ts->step;
        for (const auto& [name, b] : ts->buffers) d[py::str(name)] = b;
      } else if (const auto* a =
                     dynamic_cast<const torch::optim::AdamWParamState*>(it->second.get())) {
        d["step"] = a->step();
        d["exp_avg"] = a->exp_avg();
        d["exp_avg_sq"] = a->exp_avg_sq();
        if (a->max_exp_avg_sq().defined()) d["max_exp_avg_sq"] = a->max_exp_avg_sq();
      }
      break;
    }
    return d;
  }

  // The whole state as a torch archive (the checkpoint format of `steepest train`).
  // Sealed like a checkpoint file (io/zip_check.h): a damaged state_dict is
  // refused on load instead of loading a changed or missing buffer.
  py::bytes save() const {
    const auto lock = locked();
    torch::serialize::OutputArchive archive;
    if (model_)
      model_->save(archive);
    else
      composite_->save(archive);
    std::ostringstream out;
    archive.save_to(out);
    std::string bytes = out.str();
    seal_zip_archive(bytes, "optimizer state_dict");
    return py::bytes(bytes);
  }
  void load(const std::string& bytes) {
    const std::string what = "optimizer state_dict['steepest']";
    try {
      // Unsealed archives (saved before sealing) still get every member's CRC-32 checked.
      check_zip_archive(bytes, what, Seal::kOptional);
    } catch (const std::runtime_error& e) {
      throw std::invalid_argument(std::string(e.what()) +
                                  " (the state_dict is damaged; load one saved by "
                                  "optimizer.state_dict() and kept intact)");
    }
    const auto lock = locked();
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in);
    if (model_)
      model_->load(archive);
    else
      composite_->load(archive);
  }

 private:
  // The lock of mutex_, taken with the GIL released (see step()).
  std::unique_lock<std::mutex> locked() const {
    py::gil_scoped_release no_gil;
    return std::unique_lock<std::mutex>(mutex_);
  }

  mutable std::mutex mutex_;
  std::unique_ptr<CompositeOptimizer> owned_;
  std::unique_ptr<ModelOptimizer> model_;
  CompositeOptimizer* composite_ = nullptr;
};

py::list optimizer_list() {
  py::list out;
  for (const auto& info : optimizer_infos()) {
    py::dict d;
    d["name"] = info.name;
    d["norm"] = info.norm;
    d["formula"] = info.formula;
    d["source"] = info.source;
    d["lr"] = info.lr;
    d["hidden_matrices"] = info.hidden_matrices;
    py::dict hyper, help;
    for (const auto& h : info.hyper) {
      hyper[py::str(h.name)] = py::module_::import("json").attr("loads")(h.value.dump());
      help[py::str(h.name)] = h.help;
    }
    d["defaults"] = hyper;
    d["help"] = help;
    out.append(d);
  }
  return out;
}

at::Tensor orthogonalize(const at::Tensor& G, const std::string& method, int steps,
                         const std::string& dtype) {
  TORCH_CHECK(G.dim() == 2 || G.dim() == 3, "steepest.orthogonalize: G must be a matrix (m, n) ",
              "or a batch (b, m, n), got shape ", G.sizes());
  const at::ScalarType compute =
      dtype.empty() ? at::ScalarType::Undefined : compute_dtype_from_name(dtype);
  const auto ortho = Orthogonalizer::from_name(method, steps, compute);
  py::gil_scoped_release no_gil;
  at::NoGradGuard no_grad;
  return ortho(G.detach());
}

at::Tensor dualize(const at::Tensor& G, const std::string& norm, const std::string& method) {
  TORCH_CHECK(G.dim() == 2 || G.dim() == 3, "steepest.dualize: G must be a matrix (m, n) or a ",
              "batch (b, m, n), got shape ", G.sizes());
  const NormPtr n = make_norm(norm);
  std::unique_ptr<Orthogonalizer> msign;
  if (!method.empty()) msign = std::make_unique<Orthogonalizer>(Orthogonalizer::from_name(method));
  py::gil_scoped_release no_gil;
  at::NoGradGuard no_grad;
  return n->dualize(G.detach(), msign.get());
}

}  // namespace
}  // namespace steepest::python

PYBIND11_MODULE(_C, m) {
  using steepest::python::Handle;
  m.doc() = "steepest's C++ core (use the `steepest` package, not this module)";
  // Our messages without libtorch's C++ backtrace; std::invalid_argument
  // (unknown names and keys) is pybind11's ValueError already.
  py::register_exception_translator([](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const c10::ValueError& err) {  // TORCH_CHECK_VALUE: bad input
      PyErr_SetString(PyExc_ValueError, err.what_without_backtrace());
    } catch (const c10::TypeError& err) {
      PyErr_SetString(PyExc_TypeError, err.what_without_backtrace());
    } catch (const c10::Error& err) {
      PyErr_SetString(PyExc_RuntimeError, err.what_without_backtrace());
    }
  });
  py::class_<Handle>(m, "Handle")
      .def_static("single", &Handle::single, py::arg("name"), py::arg("params"), py::arg("lr"),
                  py::arg("overrides"), py::arg("weight_decay"), py::arg("total_steps"))
      .def_static("model", &Handle::model, py::arg("name"), py::arg("params"),
                  py::arg("is_embedding"), py::arg("lr"), py::arg("adamw_lr"), py::arg("overrides"),
                  py::arg("weight_decay"), py::arg("total_steps"))
      .def("step", &Handle::step)
      .def("parts", &Handle::parts)
      .def("part_key", &Handle::part_key)
      .def("part_params", &Handle::part_params)
      .def("part_lr", &Handle::part_lr)
      .def("set_part_lr", &Handle::set_part_lr)
      .def("table", &Handle::table)
      .def("cost", &Handle::cost)
      .def("state_bytes", &Handle::state_bytes)
      .def("state", &Handle::state)
      .def("save", &Handle::save)
      .def("load", &Handle::load);
  m.def("optimizers", &steepest::python::optimizer_list);
  m.def("orthogonalize", &steepest::python::orthogonalize, py::arg("G"), py::arg("method"),
        py::arg("steps"), py::arg("dtype"));
  m.def("dualize", &steepest::python::dualize, py::arg("G"), py::arg("norm"), py::arg("method"));
  m.def("orthogonalizer_names", &steepest::orthogonalizer_names);
  m.def("set_threads", &steepest::set_threads, py::arg("n"), py::arg("intra_op") = -1);
  m.def("blas_threads", &steepest::blas_threads);
  m.def("norm_names", [] {
    std::vector<std::string> names;
    for (const auto& e : steepest::norm_entries()) names.push_back(e.name);
    return names;
  });
}
