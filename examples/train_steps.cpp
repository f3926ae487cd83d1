// A training loop as MLflow and W&B users write it, in C++17: hyperparameters
// as params, a tag, the training loss every step and the validation accuracy
// every 10th step, both at their step so the two series line up:
//
//     mlflow.log_param("lr", 0.01)              log.param("lr", 0.01);
//     mlflow.set_tag("model", "resnet18")       log.tag("model", "resnet18");
//     mlflow.log_metric("train/loss", l, step)  log.log("train/loss", l, runlog::step(step));
//
// Run it under `runlog run -- ./train_steps`, then `runlog history info -r RUN`.
//
// Build: c++ -std=c++17 -Iinclude examples/train_steps.cpp target/release/librunlog.a -lpthread -ldl
#include <cmath>
#include <cstdint>
#include <iostream>

#include "runlog.hpp"

int main() try {
  auto log = runlog::get_logger();

  const double lr = 0.01;
  const int batch_size = 32;
  const int steps = 200;
  log.param("lr", lr);  // "0.01", as MLflow's Python client writes it
  log.param("batch_size", batch_size);
  log.param("optimizer", "sgd");
  log.tag("model", "resnet18");

  double acc = 0.0;
  for (int64_t step = 0; step < steps; step++) {
    const double loss = 2.0 * std::exp(-lr * 2.0 * static_cast<double>(step)) + 0.05;
    log.log("train/loss", loss, runlog::step(step));
    if (step % 10 == 9) {
      acc = 1.0 - loss / 2.5;
      log.log("val/acc", acc, runlog::step(step));
    }
  }

  // The same param again is fine; a different value is refused (MLflow's rule).
  log.param("lr", lr);
  try {
    log.param("lr", 0.1);
  } catch (const runlog::Error& e) {
    std::cout << "refused as expected: " << e.what() << "\n";
  }

  std::cout << "trained " << steps << " steps, val/acc " << acc << "\n";
  return 0;
} catch (const runlog::Error& e) {
  std::cerr << "runlog error " << e.status() << ": " << e.what() << "\n";
  return 1;
}
