// Seeded random numbers for Dropout, initialisers and data shuffling. Reproducible: the
// same seed gives the same stream on every machine and thread count.
//
//   manual_seed(42);
//   float u = default_generator().uniform();      // [0, 1)
//   Generator g(7); auto state = g.state(); ...; g.set_state(state);
#pragma once

#include <array>
#include <cstdint>

namespace tamp {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next();             // xoshiro256**
  float uniform();             // [0, 1), 24 random bits
  double uniform_double();     // [0, 1), 53 random bits
  float normal();              // standard normal (Box-Muller)
  uint64_t below(uint64_t n);  // uniform integer in [0, n)

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  State s_{};
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tamp
