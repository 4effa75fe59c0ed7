// Pareto fronts, NSGA-II ranks and crowding, and the genome search built on them.
#include <tamp/compression/search/space.h>
#include <tamp/scheduler/search/evolution.h>
#include <tamp/scheduler/search/pareto.h>

#include "search/search_test_support.h"

#include <gtest/gtest.h>

#include <set>

using namespace tamp;
using namespace tamp::search;

namespace {

TEST(Pareto, HandPoints) {
  const std::vector<std::vector<double>> p{{0.10, 5}, {0.12, 2}, {0.13, 3},
                                           {0.10, 5}, {0.20, 1}, {0.30, 1}};
  EXPECT_EQ(pareto_front(p), (std::vector<int>{0, 1, 3, 4}));  // equal points both stay
  EXPECT_EQ(non_dominated_ranks(p), (std::vector<int>{0, 0, 1, 0, 0, 1}));
  EXPECT_TRUE(dominates({1, 1}, {1, 2}));
  EXPECT_FALSE(dominates({1, 2}, {1, 2}));
  EXPECT_FALSE(dominates({0, 3}, {1, 2}));
  const auto d = crowding_distance(p, {0, 1, 4});  // sorted by x: 0 (0.10), 1, 4 (0.20)
  EXPECT_TRUE(std::isinf(d[0]) && std::isinf(d[2]));
  EXPECT_NEAR(d[1], (0.20 - 0.10) / 0.10 + (5.0 - 1.0) / 4.0, 1e-12);
}

TEST(Pareto, FrontOfRandomPointsIsNonDominatedAndDominatesTheRest) {
  Generator rng(11);
  std::vector<std::vector<double>> p;
  for (int i = 0; i < 200; ++i)
    p.push_back({std::floor(rng.uniform() * 20), std::floor(rng.uniform() * 20), rng.uniform()});
  const auto front = pareto_front(p);
  const std::set<int> on(front.begin(), front.end());
  for (int i : front) {
    for (size_t j = 0; j < p.size(); ++j)
      EXPECT_FALSE(dominates(p[j], p[i])) << j << " dominates front point " << i;
  }
  for (size_t j = 0; j < p.size(); ++j) {
    if (on.count(static_cast<int>(j))) continue;
    bool covered = false;
    for (int i : front) covered = covered || dominates(p[i], p[j]);
    EXPECT_TRUE(covered) << j;
  }
}

TEST(GenomeSearch, EvaluatesEachGenomeOnceAndMovesTowardsTheFront) {
  const nn::Graph g = test::test_model("cnn");
  const SearchSpace space = SearchSpace::of(g);
  // A synthetic trade-off: "error" falls with the total width, "cost" rises with conv2's.
  auto objectives = [&](const Genome& genome) {
    const auto v = space.values(genome);
    return std::vector<double>{1.0 / static_cast<double>(v[0] + v[1] + v[2]),
                               static_cast<double>(v[1] * v[1])};
  };
  GenomeSearch s(space, {.population = 8, .generations = 5, .seed = 4});
  s.run({space.largest(), space.smallest()}, objectives);
  const auto& e = s.evaluated();
  EXPECT_EQ(e[0].genome, space.largest());
  EXPECT_EQ(e[0].origin, "seed");
  EXPECT_LE(e.size(), 8u * 6u + 2u);
  EXPECT_GT(e.size(), 20u);
  std::set<Genome> seen;
  for (const auto& x : e) EXPECT_TRUE(seen.insert(x.genome).second) << "evaluated twice";
  // The best trade-off for any conv2 width keeps conv1 and fc1 full: the search finds several.
  int full_others = 0;
  for (const auto& x : e) {
    const auto v = space.values(x.genome);
    full_others += v[0] == 32 && v[2] == 128 && x.origin != "seed";
  }
  EXPECT_GE(full_others, 3);

  GenomeSearch r(space, {.random = true, .population = 8, .generations = 2, .seed = 4});
  r.run({}, objectives);
  EXPECT_EQ(r.evaluated().size(), 24u);
}

}  // namespace
