#include "run_loader.h"

#include "steepest/optim/model_optimizer.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/trainer.h"

namespace steepest::app {

LoadedRun load_run(const std::string& run) {
  const std::string ckpt = resolve_checkpoint(run);
  LoadedRun r;
  r.config = read_checkpoint_config(ckpt);
  r.model = GPT(gpt_config(r.config));
  ModelOptimizer opt(*r.model, model_optimizer_options(r.config));  // state read and dropped
  r.step = load_checkpoint(ckpt, *r.model, opt).step;
  return r;
}

}  // namespace steepest::app
