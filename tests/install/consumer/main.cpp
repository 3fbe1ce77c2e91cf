#include <steepest/linalg/orthogonality_report.h>
#include <steepest/linalg/orthogonalizer.h>

#include <iostream>

int main() {
  const auto X = at::randn({8, 32});
  steepest::Cost cost;
  const auto O = steepest::Orthogonalizer::from_name("polar-express")(X, &cost);
  const auto rep = steepest::orthogonality_report(O, cost);
  std::cout << rep.to_json() << "\n";
  return rep.sigma_max > 0.5 && rep.sigma_max < 1.5 ? 0 : 1;
}
