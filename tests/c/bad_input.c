/*
 * One bad-input case per run (argv[1] names it). Each case opens a logger on
 * $RUNLOG_SPOOL, makes the bad call, checks the status and that a message is
 * set, closes the logger, and prints "ok <case>: <message>". The test then
 * checks that the spool file holds nothing but the run's start and end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runlog.h"

static int failures = 0;
static char last_msg[512];

static void expect(const char *what, runlog_status got, runlog_status want) {
  runlog_last_error(last_msg, sizeof last_msg);
  if (got != want) {
    fprintf(stderr, "%s: got %s (%u), want %s (%u): %s\n", what,
            runlog_status_str((uint32_t)got), (unsigned)got,
            runlog_status_str((uint32_t)want), (unsigned)want, last_msg);
    failures++;
  } else if (want != RUNLOG_STATUS_OK && last_msg[0] == '\0') {
    fprintf(stderr, "%s: no error message\n", what);
    failures++;
  }
}

static runlog_logger *open_logger(uint64_t capacity, uint32_t full_timeout_ms) {
  runlog_options o = runlog_options_default();
  o.run_id = "bad-input";
  o.ring_capacity = capacity;
  o.full_timeout_ms = full_timeout_ms;
  runlog_logger *l = NULL;
  runlog_status s = runlog_open(&o, &l);
  if (s != RUNLOG_STATUS_OK) {
    runlog_last_error(last_msg, sizeof last_msg);
    fprintf(stderr, "runlog_open: %s\n", last_msg);
    exit(2);
  }
  return l;
}

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  if (s == NULL) exit(3);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  const char *c = argv[1];
  runlog_logger *l = open_logger(0, 1000);
  runlog_ticket t = 12345;

  if (!strcmp(c, "null_logger")) {
    expect("log_f64(NULL logger)", runlog_log_f64(NULL, "x", 1.0, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("wait(NULL logger)", runlog_wait(NULL, 0, 0), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("close(NULL logger)", runlog_close(NULL, 0), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("open(NULL out)", runlog_open(NULL, NULL), RUNLOG_STATUS_NULL_ARGUMENT);
  } else if (!strcmp(c, "null_name")) {
    expect("log_i64(NULL name)", runlog_log_i64(l, NULL, 1, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("log_str(NULL value)", runlog_log_str(l, "s", NULL, &t), RUNLOG_STATUS_NULL_ARGUMENT);
  } else if (!strcmp(c, "null_list")) {
    expect("f64_list(NULL, 3)", runlog_log_f64_list(l, "xs", NULL, 3, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("i64_list(NULL, 3)", runlog_log_i64_list(l, "xs", NULL, 3, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("upload(NULL data, 3)", runlog_upload(l, "a.txt", NULL, 3, &t), RUNLOG_STATUS_NULL_ARGUMENT);
  } else if (!strcmp(c, "invalid_utf8")) {
    expect("name \\xff", runlog_log_f64(l, "loss\xff", 1.0, &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("name overlong", runlog_log_f64(l, "\xc0\xaf", 1.0, &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("name surrogate", runlog_log_f64(l, "\xed\xa0\x80", 1.0, &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("value", runlog_log_str(l, "s", "ok\xfe", &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("artifact path", runlog_upload(l, "a\xff.txt", (const uint8_t *)"x", 1, &t),
           RUNLOG_STATUS_INVALID_UTF8);
  } else if (!strcmp(c, "empty_name")) {
    expect("empty name", runlog_log_f64(l, "", 1.0, &t), RUNLOG_STATUS_EMPTY_NAME);
    double v[2] = {1, 2};
    expect("empty list name", runlog_log_f64_list(l, "", v, 2, &t), RUNLOG_STATUS_EMPTY_NAME);
  } else if (!strcmp(c, "long_name")) {
    char *name = repeat('n', RUNLOG_MAX_NAME_LEN + 1);
    expect("251-byte name", runlog_log_f64(l, name, 1.0, &t), RUNLOG_STATUS_NAME_TOO_LONG);
    free(name);
    name = repeat('n', 100000);
    expect("100000-byte name", runlog_log_i64(l, name, 1, &t), RUNLOG_STATUS_NAME_TOO_LONG);
    free(name);
  } else if (!strcmp(c, "long_list")) {
    size_t n = 200000; /* 1.6 MB: more than a record of a 1 MiB ring */
    double *xs = calloc(n, sizeof *xs);
    int64_t *is = calloc(n, sizeof *is);
    if (xs == NULL || is == NULL) return 3;
    expect("f64 list", runlog_log_f64_list(l, "xs", xs, n, &t), RUNLOG_STATUS_LIST_TOO_LONG);
    expect("i64 list", runlog_log_i64_list(l, "is", is, n, &t), RUNLOG_STATUS_LIST_TOO_LONG);
    free(xs);
    free(is);
  } else if (!strcmp(c, "long_string")) {
    char *v = repeat('v', 1 << 20);
    expect("1 MiB string", runlog_log_str(l, "s", v, &t), RUNLOG_STATUS_VALUE_TOO_LONG);
    free(v);
  } else if (!strcmp(c, "unsafe_path")) {
    const char *bad[] = {"", "/etc/passwd", "../escape", "a/../../b", "a/..", "..",
                         "a\\b", "./a", "a//b", "a/", "C:/x", "a/\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      char what[64];
      snprintf(what, sizeof what, "path #%zu", i);
      expect(what, runlog_upload(l, bad[i], (const uint8_t *)"x", 1, &t), RUNLOG_STATUS_UNSAFE_PATH);
      expect(what, runlog_upload_file(l, bad[i], "/dev/null", &t), RUNLOG_STATUS_UNSAFE_PATH);
    }
    char *long_path = repeat('p', RUNLOG_MAX_PATH_LEN + 1);
    expect("long path", runlog_upload(l, long_path, (const uint8_t *)"x", 1, &t), RUNLOG_STATUS_UNSAFE_PATH);
    free(long_path);
  } else if (!strcmp(c, "missing_file")) {
    expect("upload_file(missing)", runlog_upload_file(l, "a.bin", "/nonexistent/file", &t),
           RUNLOG_STATUS_IO);
    if (strstr(last_msg, "/nonexistent/file") == NULL) {
      fprintf(stderr, "message does not name the file: %s\n", last_msg);
      failures++;
    }
  } else if (!strcmp(c, "bad_options")) {
    runlog_options o = runlog_options_default();
    runlog_logger *x = NULL;
    o.run_id = "bad/run/id";
    expect("run id with '/'", runlog_open(&o, &x), RUNLOG_STATUS_INVALID_ARGUMENT);
    o.run_id = "ok";
    o.ring_capacity = 100;
    expect("capacity 100", runlog_open(&o, &x), RUNLOG_STATUS_INVALID_ARGUMENT);
    o.ring_capacity = 0;
    o.experiment = "exp\xff";
    expect("experiment not UTF-8", runlog_open(&o, &x), RUNLOG_STATUS_INVALID_UTF8);
    if (x != NULL) failures++;
  } else if (!strcmp(c, "bad_ticket")) {
    expect("wait(never issued)", runlog_wait(l, 1000000, 0), RUNLOG_STATUS_INVALID_ARGUMENT);
  } else if (!strcmp(c, "use_after_close")) {
    expect("close", runlog_close(l, 0), RUNLOG_STATUS_TIMEOUT); /* no uploader: closes without waiting */
    expect("log after close", runlog_log_f64(l, "x", 1.0, &t), RUNLOG_STATUS_CLOSED);
    expect("str after close", runlog_log_str(l, "x", "y", &t), RUNLOG_STATUS_CLOSED);
    expect("upload after close", runlog_upload(l, "a", (const uint8_t *)"x", 1, &t), RUNLOG_STATUS_CLOSED);
    expect("wait after close", runlog_wait(l, 0, 0), RUNLOG_STATUS_CLOSED);
    expect("flush after close", runlog_flush(l, 0), RUNLOG_STATUS_CLOSED);
    expect("close again", runlog_close(l, 0), RUNLOG_STATUS_CLOSED);
  } else if (!strcmp(c, "wait_no_uploader")) {
    expect("log", runlog_log_f64(l, "x", 1.0, &t), RUNLOG_STATUS_OK);
    expect("wait", runlog_wait(l, t, 200), RUNLOG_STATUS_TIMEOUT);
    if (strstr(last_msg, "no uploader is draining") == NULL) {
      fprintf(stderr, "message does not say why: %s\n", last_msg);
      failures++;
    }
    expect("flush", runlog_flush(l, 50), RUNLOG_STATUS_TIMEOUT);
    t = 12345;
  } else if (!strcmp(c, "full_fail_fast")) {
    runlog_logger *small = open_logger(4096, 0);
    runlog_status s;
    int accepted = 0;
    while ((s = runlog_log_f64(small, "x", (double)accepted, &t)) == RUNLOG_STATUS_OK) accepted++;
    expect("log into a full ring", s, RUNLOG_STATUS_FULL);
    if (accepted < 50) failures++;
    printf("accepted %d\n", accepted);
    runlog_close(small, 0);
    t = 12345;
  } else if (!strcmp(c, "nan_inf")) {
    expect("NaN", runlog_log_f64(l, "nan", NAN, &t), RUNLOG_STATUS_OK);
    expect("+inf", runlog_log_f64(l, "inf", INFINITY, &t), RUNLOG_STATUS_OK);
    double v[3] = {-INFINITY, NAN, 1.0};
    expect("list", runlog_log_f64_list(l, "vals", v, 3, &t), RUNLOG_STATUS_OK);
    expect("empty list", runlog_log_f64_list(l, "empty", NULL, 0, &t), RUNLOG_STATUS_OK);
    char *name = repeat('n', RUNLOG_MAX_NAME_LEN);
    expect("250-byte name", runlog_log_i64(l, name, 250, &t), RUNLOG_STATUS_OK);
    free(name);
    t = 12345;
    strcpy(last_msg, "values, not errors");
  } else if (!strcmp(c, "fork_child")) {
    expect("parent logs", runlog_log_i64(l, "parent", 1, NULL), RUNLOG_STATUS_OK);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      /* The child must not write into the parent's ring. */
      expect("child logs through the inherited logger", runlog_log_i64(l, "child", 2, NULL),
             RUNLOG_STATUS_CLOSED);
      expect("child closes it", runlog_close(l, 0), RUNLOG_STATUS_CLOSED);
      runlog_logger *own = open_logger(0, 1000);
      expect("child's own logger", runlog_log_i64(own, "child.own", 3, NULL), RUNLOG_STATUS_OK);
      runlog_close(own, 0);
      exit(failures ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
    expect("parent still logs", runlog_log_i64(l, "parent", 4, NULL), RUNLOG_STATUS_OK);
    strcpy(last_msg, "fork child refused");
  } else if (!strcmp(c, "exit_without_uploader")) {
    /* The process-wide logger, never closed: the exit hook ends the run
     * without waiting (no uploader) and must stay quiet. */
    runlog_logger *g = runlog_get_logger();
    if (g == NULL || runlog_get_logger() != g) failures++;
    expect("log", runlog_log_f64(g, "x", 1.0, NULL), RUNLOG_STATUS_OK);
    strcpy(last_msg, "exit hook");
  } else if (!strcmp(c, "status_str")) {
    if (strcmp(runlog_status_str(RUNLOG_STATUS_OK), "ok") != 0) failures++;
    if (strcmp(runlog_status_str(99999), "unknown status") != 0) failures++;
    expect("empty name", runlog_log_f64(l, "", 1.0, &t), RUNLOG_STATUS_EMPTY_NAME);
    char tiny[6];
    size_t full = runlog_last_error(tiny, sizeof tiny);
    if (full != strlen(last_msg) || strlen(tiny) != 5 || strncmp(tiny, last_msg, 5) != 0) {
      fprintf(stderr, "truncation: full=%zu tiny=%s\n", full, tiny);
      failures++;
    }
    if (runlog_last_error(NULL, 0) != full) failures++;
  } else {
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
  }
  if (t != 12345) {
    fprintf(stderr, "a failed call wrote the ticket\n");
    failures++;
  }
  if (strcmp(c, "use_after_close") != 0) {
    runlog_status s = runlog_close(l, 0);
    if (s != RUNLOG_STATUS_OK && s != RUNLOG_STATUS_TIMEOUT) failures++;
  }
  if (failures) return 1;
  printf("ok %s: %s\n", c, last_msg);
  return 0;
}
