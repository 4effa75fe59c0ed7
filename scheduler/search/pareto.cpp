#include <tamp/autograd/error.h>
#include <tamp/scheduler/search/pareto.h>

#include <algorithm>
#include <limits>
#include <numeric>

namespace tamp::search {

bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  TAMP_CHECK(a.size() == b.size(), "comparing points of {} and {} coordinates", a.size(), b.size());
  bool better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    better = better || a[i] < b[i];
  }
  return better;
}

std::vector<int> pareto_front(const std::vector<std::vector<double>>& points) {
  std::vector<int> front;
  for (size_t i = 0; i < points.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j)
      dominated = j != i && dominates(points[j], points[i]);
    if (!dominated) front.push_back(static_cast<int>(i));
  }
  return front;
}

std::vector<int> non_dominated_ranks(const std::vector<std::vector<double>>& points) {
  std::vector<int> rank(points.size(), -1);
  size_t assigned = 0;
  for (int r = 0; assigned < points.size(); ++r) {
    std::vector<int> now;
    for (size_t i = 0; i < points.size(); ++i) {
      if (rank[i] >= 0) continue;
      bool dominated = false;
      for (size_t j = 0; j < points.size() && !dominated; ++j) {
        dominated = j != i && rank[j] < 0 && dominates(points[j], points[i]);
      }
      if (!dominated) now.push_back(static_cast<int>(i));
    }
    for (int i : now) rank[static_cast<size_t>(i)] = r;
    assigned += now.size();
  }
  return rank;
}

std::vector<double> crowding_distance(const std::vector<std::vector<double>>& points,
                                      const std::vector<int>& members) {
  const size_t n = members.size();
  std::vector<double> d(n, 0.0);
  if (n == 0) return d;
  const double inf = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < points[static_cast<size_t>(members[0])].size(); ++k) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    auto at = [&](size_t i) { return points[static_cast<size_t>(members[i])][k]; };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return at(a) < at(b); });
    const double range = at(order.back()) - at(order.front());
    d[order.front()] = d[order.back()] = inf;
    if (range <= 0) continue;
    for (size_t i = 1; i + 1 < n; ++i) d[order[i]] += (at(order[i + 1]) - at(order[i - 1])) / range;
  }
  return d;
}

}  // namespace tamp::search
