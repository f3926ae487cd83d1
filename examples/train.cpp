// A training program that logs like the Azure ML Workbench example, in C++17:
//
//     logger = get_azureml_logger()
//     logger.log("Accuracy", accuracy)
//
// Run it under `runlog run -- ./train_cpp`, or alone (it then writes into
// .runlog/spool/ for a later `runlog drain`).
//
// Build, against an install (scripts/install.sh; README.md, "Use runlog in your project"):
//   c++ -std=c++17 examples/train.cpp -o train_cpp $(pkg-config --cflags --libs runlog)
// (or with CMake, as examples/cmake/ does), or in this repository:
//   c++ -std=c++17 -Iinclude examples/train.cpp target/release/librunlog.a -lpthread -ldl -lm
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "runlog.hpp"

int main() try {
  auto log = runlog::get_logger();

  // Hyperparameters: an integer, a float and a string.
  const int epochs = 5;
  const double reg = 0.01;
  log.log("Epochs", epochs);
  log.log("Regularization Rate", reg);
  log.log("Optimizer", "sgd");

  // "Training".
  std::vector<double> losses;
  std::vector<int64_t> correct;
  for (int e = 0; e < epochs; e++) {
    losses.push_back(std::exp(-0.5 * (e + 1)) + reg);
    correct.push_back(600 + 70 * e);
    log.log("Loss", losses.back());
  }
  // Lists: one chart each, steps 0..n-1.
  log.log("Loss per epoch", losses);
  log.log("Correct per epoch", correct);
  log.log("Learning rate schedule", {0.1, 0.05, 0.01});

  // Two metrics each waited for, so their order holds in the run history.
  const double accuracy = static_cast<double>(correct.back()) / 1000.0;
  log.log("Accuracy", accuracy).wait();
  log.log("Final loss", losses.back()).wait();

  // An uploaded artifact.
  log.upload("reports/summary.txt", "epochs=" + std::to_string(epochs) + "\naccuracy=" +
                                        std::to_string(accuracy) + "\n");

  // Files written to outputs/ are kept with the run (`runlog run` uploads them).
  std::filesystem::create_directories("outputs");
  std::ofstream("outputs/model.txt") << "weights: " << reg << ' ' << accuracy << '\n';
  log.upload_file("model/model.txt", "outputs/model.txt");

  // Errors are exceptions carrying the status and the reason.
  try {
    log.log("", 1.0);
  } catch (const runlog::Error& e) {
    std::cout << "refused as expected: " << e.what() << " (status " << e.status() << ")\n";
  }

  std::cout << "logged " << epochs << " epochs, accuracy " << accuracy << "\n";
  return 0;
} catch (const runlog::Error& e) {
  std::cerr << "runlog error " << e.status() << ": " << e.what() << "\n";
  return 1;
}
