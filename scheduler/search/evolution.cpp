#include <tamp/scheduler/search/evolution.h>
#include <tamp/scheduler/search/pareto.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace tamp::search {

GenomeSearch::GenomeSearch(const SearchSpace& space, GenomeSearchOptions options)
    : space_(space), options_(options), rng_(options.seed) {
  TAMP_CHECK(options_.population >= 2, "the population must have at least 2 members, not {}",
             options_.population);
  TAMP_CHECK(options_.generations >= 0, "generations {} is negative", options_.generations);
  TAMP_CHECK(options_.mutation >= 0 && options_.mutation <= 1, "mutation rate {} is outside [0, 1]",
             options_.mutation);
}

int GenomeSearch::evaluate_once(const Genome& g, const std::string& origin,
                                const Evaluate& evaluate) {
  for (size_t i = 0; i < evaluated_.size(); ++i) {
    if (evaluated_[i].genome == g) return static_cast<int>(i);
  }
  space_.check(g);
  evaluated_.push_back({g, evaluate(g), origin});
  return static_cast<int>(evaluated_.size()) - 1;
}

Genome GenomeSearch::random_genome() {
  Genome g;
  for (const auto& d : space_.dimensions())
    g.push_back(static_cast<int>(rng_.below(d.choices.size())));
  return g;
}

std::vector<int> GenomeSearch::select_survivors(const std::vector<int>& pool, size_t keep) const {
  std::vector<std::vector<double>> points;
  for (int i : pool) points.push_back(evaluated_[static_cast<size_t>(i)].objectives);
  const std::vector<int> rank = non_dominated_ranks(points);
  std::vector<int> out;
  for (int r = 0; out.size() < keep; ++r) {
    std::vector<int> members;
    for (size_t i = 0; i < pool.size(); ++i)
      if (rank[i] == r) members.push_back(static_cast<int>(i));
    if (members.empty()) break;
    if (out.size() + members.size() > keep) {  // the last front that fits partly: the least crowded
      const auto d = crowding_distance(points, members);
      std::vector<size_t> order(members.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return d[a] > d[b]; });
      for (size_t k = 0; out.size() < keep; ++k)
        out.push_back(pool[static_cast<size_t>(members[order[k]])]);
    } else {
      for (int m : members) out.push_back(pool[static_cast<size_t>(m)]);
    }
  }
  return out;
}

void GenomeSearch::run(const std::vector<Genome>& seeds, const Evaluate& evaluate) {
  TAMP_CHECK(evaluated_.empty(), "GenomeSearch::run is called once");
  std::vector<int> population;
  auto add_unique = [&](int i) {
    if (std::find(population.begin(), population.end(), i) == population.end())
      population.push_back(i);
  };
  for (const auto& g : seeds) add_unique(evaluate_once(g, "seed", evaluate));
  const size_t budget =
      static_cast<size_t>(options_.population) * static_cast<size_t>(options_.generations + 1);
  // A small space may hold fewer genomes than the budget: stop after this many repeats.
  const size_t patience = 20 * budget + 100;
  size_t attempts = 0;
  if (options_.random) {
    while (evaluated_.size() < budget && attempts++ < patience)
      evaluate_once(random_genome(), "random", evaluate);
    return;
  }
  while (population.size() < static_cast<size_t>(options_.population) && attempts++ < patience) {
    add_unique(evaluate_once(random_genome(), "initial", evaluate));
  }
  const double mutation = options_.mutation > 0
                              ? options_.mutation
                              : 1.0 / static_cast<double>(space_.dimensions().size());
  for (int gen = 1; gen <= options_.generations; ++gen) {
    std::vector<std::vector<double>> points;
    for (int i : population) points.push_back(evaluated_[static_cast<size_t>(i)].objectives);
    const std::vector<int> rank = non_dominated_ranks(points);
    std::vector<double> crowd(population.size(), 0.0);
    for (int r = 0; r <= *std::max_element(rank.begin(), rank.end()); ++r) {
      std::vector<int> members;
      for (size_t i = 0; i < population.size(); ++i)
        if (rank[i] == r) members.push_back(static_cast<int>(i));
      const auto d = crowding_distance(points, members);
      for (size_t k = 0; k < members.size(); ++k) crowd[static_cast<size_t>(members[k])] = d[k];
    }
    auto tournament = [&]() -> const Genome& {
      const size_t a = rng_.below(population.size()), b = rng_.below(population.size());
      const bool a_wins = rank[a] < rank[b] || (rank[a] == rank[b] && crowd[a] >= crowd[b]);
      return evaluated_[static_cast<size_t>(population[a_wins ? a : b])].genome;
    };
    std::vector<int> pool = population;
    for (int child = 0; child < options_.population; ++child) {
      Genome g = tournament();
      if (rng_.uniform_double() < options_.crossover) {
        const Genome& other = tournament();
        for (size_t k = 0; k < g.size(); ++k)
          if (rng_.below(2) == 1) g[k] = other[k];
      }
      for (size_t k = 0; k < g.size(); ++k) {
        if (rng_.uniform_double() < mutation) {
          g[k] = static_cast<int>(rng_.below(space_.dimensions()[k].choices.size()));
        }
      }
      const int i = evaluate_once(g, fmt::format("generation {}", gen), evaluate);
      if (std::find(pool.begin(), pool.end(), i) == pool.end()) pool.push_back(i);
    }
    population = select_survivors(pool, static_cast<size_t>(options_.population));
  }
}

}  // namespace tamp::search
