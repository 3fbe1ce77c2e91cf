#include "steepest/model/export.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "steepest/io/npy.h"
#include "util/atomic_file.h"

namespace steepest {

void export_gpt(GPT& model, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw std::runtime_error("cannot create export directory '" + dir + "': " + ec.message());
  const GPTConfig& c = model->config();
  const nlohmann::json config = {{"vocab_size", c.vocab_size},
                                 {"n_layer", c.n_layer},
                                 {"n_head", c.n_head},
                                 {"n_embd", c.n_embd},
                                 {"ctx", c.ctx},
                                 {"logit_softcap", c.logit_softcap},
                                 {"rope_base", c.rope_base},
                                 {"residual_mixing", c.residual_mixing},
                                 {"attn_1_over_d", c.attn_1_over_d},
                                 {"norm_eps", GPTImpl::kNormEps}};
  detail::write_file_atomically((fs::path(dir) / "gpt.json").string(), config.dump(2) + "\n");
  for (const auto& p : model->named_parameters())
    write_npy((fs::path(dir) / (p.key() + ".npy")).string(), p.value().detach());
}

}  // namespace steepest
