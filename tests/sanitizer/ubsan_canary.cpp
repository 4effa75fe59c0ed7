// Built only when TAMP_SANITIZE has "undefined": overflows a signed int. The test that runs it
// passes only if UndefinedBehaviorSanitizer reports the overflow and stops the process.
#include <climits>
#include <cstdio>

int main(int argc, char** argv) {
  volatile int big = INT_MAX - 1;  // volatile: the optimiser cannot fold the overflow away
  const int sum = big + argc + 1;  // argc >= 1: INT_MAX + 1
  std::printf("computed %d: the sanitizer is off or did not halt\n", sum);
  return 0;
}
