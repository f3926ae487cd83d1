/*
 * A training program that logs like the Azure ML Workbench example:
 *
 *     from azureml.logging import get_azureml_logger
 *     logger = get_azureml_logger()
 *     logger.log("Regularization Rate", reg)
 *     logger.log("Accuracy", accuracy)
 *     # files saved in ./outputs are kept with the run
 *
 * Run it under `runlog run -- ./train` (which sets RUNLOG_RUN_ID, RUNLOG_SPOOL and
 * RUNLOG_EXPERIMENT and uploads what it logs), or alone: it then writes into
 * .runlog/spool/ and a later `runlog drain` uploads it.
 *
 * Build, against an install (scripts/install.sh; README.md, "Use runlog in your project"):
 *   cc -std=c11 examples/train.c -o train $(pkg-config --cflags --libs runlog) -lm
 * or in this repository: cc -std=c11 -Iinclude examples/train.c target/release/librunlog.a -lpthread -ldl -lm
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runlog.h"

/* Every runlog call returns a status; on failure, say why and stop. */
#define CHECK(call)                                                        \
  do {                                                                     \
    runlog_status s_ = (call);                                             \
    if (s_ != RUNLOG_STATUS_OK) {                                          \
      char msg_[512];                                                      \
      runlog_last_error(msg_, sizeof msg_);                                \
      fprintf(stderr, "%s failed: %s: %s\n", #call,                        \
              runlog_status_str((uint32_t)s_), msg_);                      \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

#define EPOCHS 5

int main(void) {
  runlog_logger *logger = runlog_get_logger();
  if (logger == NULL) {
    char msg[512];
    runlog_last_error(msg, sizeof msg);
    fprintf(stderr, "no runlog logger: %s\n", msg);
    return 1;
  }

  /* Hyperparameters: an integer, a float and a string. */
  const int64_t epochs = EPOCHS;
  const double reg = 0.01;
  CHECK(runlog_log_i64(logger, "Epochs", epochs, NULL));
  CHECK(runlog_log_f64(logger, "Regularization Rate", reg, NULL));
  CHECK(runlog_log_str(logger, "Optimizer", "sgd", NULL));

  /* "Training": a loss per epoch, logged as it goes. */
  double losses[EPOCHS];
  int64_t correct[EPOCHS];
  for (int e = 0; e < EPOCHS; e++) {
    losses[e] = exp(-0.5 * (e + 1)) + reg;
    correct[e] = 600 + 70 * e;
    CHECK(runlog_log_f64(logger, "Loss", losses[e], NULL));
  }
  /* Lists: one chart each, steps 0..n-1. */
  CHECK(runlog_log_f64_list(logger, "Loss per epoch", losses, EPOCHS, NULL));
  CHECK(runlog_log_i64_list(logger, "Correct per epoch", correct, EPOCHS, NULL));

  /* Two metrics each waited for, so that the second is only logged once the
   * first is committed in the run history: their order holds. */
  runlog_ticket ticket;
  const double accuracy = (double)correct[EPOCHS - 1] / 1000.0;
  CHECK(runlog_log_f64(logger, "Accuracy", accuracy, &ticket));
  CHECK(runlog_wait(logger, ticket, 10000));
  CHECK(runlog_log_f64(logger, "Final loss", losses[EPOCHS - 1], &ticket));
  CHECK(runlog_wait(logger, ticket, 10000));

  /* An uploaded artifact. */
  char summary[256];
  int n = snprintf(summary, sizeof summary, "epochs=%d\naccuracy=%.3f\nloss=%.6f\n",
                   EPOCHS, accuracy, losses[EPOCHS - 1]);
  CHECK(runlog_upload(logger, "reports/summary.txt", summary, (size_t)n, NULL));

  /* Files written to outputs/ are kept with the run (`runlog run` uploads them). */
  if (mkdir("outputs", 0755) != 0 && errno != EEXIST) {
    perror("mkdir outputs");
    return 1;
  }
  FILE *model = fopen("outputs/model.txt", "w");
  if (model == NULL) {
    perror("outputs/model.txt");
    return 1;
  }
  fprintf(model, "weights: %.6f %.6f\n", reg, accuracy);
  fclose(model);
  /* A file can also be uploaded explicitly, under any artifact path. */
  CHECK(runlog_upload_file(logger, "model/model.txt", "outputs/model.txt", NULL));

  printf("logged %d epochs, accuracy %.3f\n", EPOCHS, accuracy);
  /* No close needed: at exit the run's end is recorded and the upload is awaited, bounded. */
  return 0;
}
