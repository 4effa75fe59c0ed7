// Built only in sanitized configurations: reads one element past a heap buffer. The test
// that runs it passes only if AddressSanitizer reports the read, proving the sanitizer is on.
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  std::vector<int> v(static_cast<size_t>(4 + argc));  // size unknown to the optimiser
  volatile int* p = v.data();
  const int past_end = p[v.size()];
  std::printf("read %d past the end: the sanitizer is off or did not halt\n", past_end);
  return 0;
}
