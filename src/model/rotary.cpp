#include "steepest/model/rotary.h"

#include <c10/util/Exception.h>

namespace steepest {

RotaryTables rotary_tables(int64_t ctx, int64_t head_dim, double base) {
  TORCH_CHECK(ctx > 0, "rotary_tables: ctx must be positive, got ", ctx);
  TORCH_CHECK(head_dim > 0 && head_dim % 2 == 0,
              "rotary_tables: head_dim must be positive and even, got ", head_dim);
  TORCH_CHECK(base > 0, "rotary_tables: base must be positive, got ", base);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // Angles in fp64, then rounded once: the tables are exact to fp32 precision.
  const auto inv_freq = at::pow(base, -at::arange(0, head_dim, 2, f64) / double(head_dim));
  const auto theta = at::outer(at::arange(ctx, f64), inv_freq);
  return {theta.cos().to(at::kFloat).contiguous(), theta.sin().to(at::kFloat).contiguous()};
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& tables) {
  TORCH_CHECK(x.dim() >= 2, "apply_rotary: x must be (..., T, head_dim), got ", x.sizes());
  const int64_t T = x.size(-2), d = x.size(-1);
  TORCH_CHECK(d == 2 * tables.cos.size(1), "apply_rotary: head_dim ", d,
              " does not match the tables (built for head_dim ", 2 * tables.cos.size(1), ")");
  TORCH_CHECK(T <= tables.ctx(), "apply_rotary: T = ", T, " exceeds the tables' ctx ",
              tables.ctx());
  const auto cos = tables.cos.slice(0, 0, T).to(x.scalar_type());
  const auto sin = tables.sin.slice(0, 0, T).to(x.scalar_type());
  const auto x1 = x.narrow(-1, 0, d / 2), x2 = x.narrow(-1, d / 2, d / 2);
  return at::cat({x1 * cos + x2 * sin, x2 * cos - x1 * sin}, -1);
}

}  // namespace steepest
