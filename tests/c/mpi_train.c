/* An MPI "training" program for tests/tests/mpi_ranks.rs: every rank logs
 * its own loss and the all-reduced mean for STEPS steps through the
 * process-wide logger (rank, world size and node come from the launcher's
 * environment), then exits with 3 if it is FAIL_RANK, else 0.
 *
 * usage: mpi_train STEPS FAIL_RANK [die] (FAIL_RANK -1: none fails)
 *
 * With "die", FAIL_RANK ends with _exit(3) after the barrier, never closing
 * its logger (as a crash would), and the other ranks close theirs before the
 * barrier (so that mpirun, seeing a rank fail, cannot kill them before). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runlog.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int steps = argc > 1 ? atoi(argv[1]) : 50;
  int fail_rank = argc > 2 ? atoi(argv[2]) : -1;
  int die = argc > 3 && strcmp(argv[3], "die") == 0;

  runlog_logger *log = runlog_get_logger();
  if (log == NULL) {
    char why[512];
    runlog_last_error(why, sizeof why);
    fprintf(stderr, "rank %d: no logger: %s\n", rank, why);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  struct timespec pause = {0, 20 * 1000 * 1000}; /* 20 ms: the sampler sees the run */
  for (int s = 0; s < steps; s++) {
    /* Distinct per rank, so a mixed series would show. */
    double loss = 1000.0 * rank + 1.0 / (s + 1);
    double sum = 0;
    MPI_Allreduce(&loss, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (runlog_log_f64_at(log, "loss", loss, s, NULL) != RUNLOG_STATUS_OK ||
        runlog_log_f64_at(log, "loss_mean", sum / size, s, NULL) != RUNLOG_STATUS_OK) {
      fprintf(stderr, "rank %d: log failed\n", rank);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    nanosleep(&pause, NULL);
  }
  runlog_status st = runlog_flush(log, 30000);
  if (st != RUNLOG_STATUS_OK) {
    fprintf(stderr, "rank %d: flush: %s\n", rank, runlog_status_str(st));
  }
  if (die && rank != fail_rank) {
    st = runlog_close(log, 30000);
    if (st != RUNLOG_STATUS_OK) {
      fprintf(stderr, "rank %d: close: %s\n", rank, runlog_status_str(st));
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (die && rank == fail_rank) {
    _exit(3);
  }
  MPI_Finalize();
  return rank == fail_rank ? 3 : 0;
}
