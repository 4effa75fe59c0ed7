// The search over genomes of a SearchSpace on objectives to minimise: NSGA-II or random
// sampling, for the same number of evaluations; a repeated genome is not evaluated again
// (docs/search.md#strategies).
//
//   GenomeSearch s(space, {.population = 16, .generations = 6});
//   s.run(seeds, eval);                 // eval: genome -> {1 - accuracy, macs}
//   for (const auto& e : s.evaluated()) ... e.genome, e.objectives, e.origin
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/compression/search/space.h>

#include <functional>
#include <string>
#include <vector>

namespace tamp::search {

using compression::search::Genome;
using compression::search::SearchSpace;

struct GenomeSearchOptions {
  bool random = false;  // random sampling instead of NSGA-II
  int population = 16;
  int generations = 6;     // evaluations: about population x (generations + 1), seeds included
  double mutation = 0.0;   // per gene; 0: 1 / dimensions
  double crossover = 0.9;  // probability that a child mixes two parents
  uint64_t seed = 0;
};

struct Evaluated {
  Genome genome;
  std::vector<double> objectives;
  std::string origin;  // "seed", "initial", "generation N", "random"
};

class GenomeSearch {
 public:
  using Evaluate = std::function<std::vector<double>(const Genome&)>;
  GenomeSearch(const SearchSpace& space, GenomeSearchOptions options);

  // Evaluates the seeds, then searches. Called once.
  void run(const std::vector<Genome>& seeds, const Evaluate& evaluate);
  const std::vector<Evaluated>& evaluated() const { return evaluated_; }

 private:
  int evaluate_once(const Genome& g, const std::string& origin, const Evaluate& evaluate);
  Genome random_genome();
  std::vector<int> select_survivors(const std::vector<int>& pool, size_t keep) const;

  const SearchSpace& space_;
  GenomeSearchOptions options_;
  std::vector<Evaluated> evaluated_;
  Generator rng_;
};

}  // namespace tamp::search
