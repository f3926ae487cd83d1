// The smallest C++ project that uses an installed runlog through CMake
// (see README.md, "Use runlog in your project"). Run it under `runlog run`.
#include <cmath>
#include <cstdio>
#include <string>

#include "runlog.hpp"

int main() try {
  auto log = runlog::get_logger();
  log.log("Optimizer", "adam");
  double loss = 1.0;
  for (int epoch = 1; epoch <= 5; ++epoch) {
    loss = std::exp(-0.5 * epoch);
    log.log("Loss", loss);
  }
  log.log("Final loss", loss).wait();  // committed in the history
  log.upload("reports/summary.txt", "final loss " + std::to_string(loss) + "\n");
  std::printf("final loss %.4f\n", loss);
  return 0;
} catch (const runlog::Error& e) {
  std::fprintf(stderr, "runlog: %s\n", e.what());
  return 1;
}
