// Pareto fronts of points whose coordinates are all minimised: a dominates b when it is no
// worse in every coordinate and better in one; equal points are both on the front.
//
//   std::vector<std::vector<double>> p{{0.10, 5e6}, {0.12, 2e6}, {0.13, 3e6}};
//   pareto_front(p);                 // {0, 1}: (0.13, 3e6) is dominated by (0.12, 2e6)
//   non_dominated_ranks(p);          // {0, 0, 1}
#pragma once

#include <vector>

namespace tamp::search {

bool dominates(const std::vector<double>& a, const std::vector<double>& b);

// Indices of the points no other point dominates, ascending.
std::vector<int> pareto_front(const std::vector<std::vector<double>>& points);

// NSGA-II's ranks: 0 for the front, 1 for the front of what remains, and so on.
std::vector<int> non_dominated_ranks(const std::vector<std::vector<double>>& points);

// NSGA-II's crowding distance of each point among `members` (indices into points, one
// rank): infinite at the extremes of any coordinate, else the sum over coordinates of the
// neighbours' gap divided by the coordinate's range. Aligned with `members`.
std::vector<double> crowding_distance(const std::vector<std::vector<double>>& points,
                                      const std::vector<int>& members);

}  // namespace tamp::search
