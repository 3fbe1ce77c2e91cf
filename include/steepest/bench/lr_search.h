// The adaptive learning-rate search of a bench suite ("lr_search"): the same
// number of trials for every optimizer, spent where they tell the most. A
// coarse bracket first, then extension past whichever edge is best (so the
// optimum never stays on an edge while trials remain), then refinement
// between the best LR and its better neighbour. Each choice depends only on
// the finished trials, so a results directory replays the same search.
#pragma once

#include <optional>
#include <vector>

namespace steepest {

struct LrTrial {
  double lr = 0;
  std::optional<double> loss;  // final val loss; nullopt: the run failed (diverged)
};

struct LrSearchRule {
  int trials = 7;       // the budget per optimizer, ≥ 3
  double factor = 4.0;  // the coarse spacing and the step past an edge, > 1
};

// The learning rates to run next, given every trial so far (all finished), or
// nothing when the budget is spent. First call (no trials): center·{1/f, 1, f}.
// Then one LR per call:
// - the best (lowest loss; failed runs lose) is the smallest or largest tried:
//   one factor f past it;
// - otherwise: the geometric midpoint between the best and its better
//   neighbour, or, when those two are already within √2 of each other, the
//   midpoint on the other side; when both sides are that fine, nothing (the
//   rest of the budget would not change the answer).
// LRs are rounded to 4 significant digits (how run ids write them).
std::vector<double> next_lr_trials(const std::vector<LrTrial>& tried, double center,
                                   const LrSearchRule& rule);

// The best trial's index (lowest loss; ties to the smaller LR), -1 if all failed.
int best_lr_trial(const std::vector<LrTrial>& tried);

// True when the best trial is the smallest or largest LR tried (and more than
// one was tried): its optimum may lie outside what was searched.
bool best_lr_on_edge(const std::vector<LrTrial>& tried);

}  // namespace steepest
