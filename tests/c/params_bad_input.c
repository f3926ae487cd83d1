/*
 * The training-loop calls (runlog_log_f64_at, runlog_log_i64_at,
 * runlog_log_param, runlog_set_tag) and runlog_upload's `const void *`, from
 * C11 built with -Wall -Wextra -Werror -pedantic. One case per run (argv[1]):
 * it opens a logger on $RUNLOG_SPOOL, makes the calls, checks each status and
 * that a message is set, closes the logger and prints "ok <case>: <last
 * message>". The test then reads the spool file to check what was written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runlog.h"

static int failures = 0;
static char last_msg[1024];

static void expect(const char *what, runlog_status got, runlog_status want) {
  last_msg[0] = '\0';
  runlog_last_error(last_msg, sizeof last_msg);
  if (got != want) {
    fprintf(stderr, "%s: got %s (%u), want %s (%u): %s\n", what,
            runlog_status_str((uint32_t)got), (unsigned)got,
            runlog_status_str((uint32_t)want), (unsigned)want, last_msg);
    failures++;
  } else if (want != RUNLOG_STATUS_OK && last_msg[0] == '\0') {
    fprintf(stderr, "%s: no error message\n", what);
    failures++;
  } else if (want != RUNLOG_STATUS_OK) {
    printf("%s -> %s\n", what, last_msg);
  }
}

static char *repeat(const char *unit, size_t n) {
  size_t u = strlen(unit);
  char *s = malloc(u * n + 1);
  if (s == NULL) exit(3);
  for (size_t i = 0; i < n; i++) memcpy(s + i * u, unit, u);
  s[u * n] = '\0';
  return s;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  const char *c = argv[1];
  runlog_options o = runlog_options_default();
  o.run_id = "params-bad-input";
  runlog_logger *l = NULL;
  if (runlog_open(&o, &l) != RUNLOG_STATUS_OK) return 2;
  runlog_ticket t = 12345;

  if (!strcmp(c, "good")) {
    /* A string literal uploads without a cast: runlog_upload takes const void *. */
    expect("upload literal", runlog_upload(l, "notes.txt", "hello", 5, &t), RUNLOG_STATUS_OK);
    expect("f64 at 9", runlog_log_f64_at(l, "val/acc", 0.5, 9, &t), RUNLOG_STATUS_OK);
    expect("i64 at 19", runlog_log_i64_at(l, "val/n", 7, 19, &t), RUNLOG_STATUS_OK);
    expect("f64 at INT64_MAX", runlog_log_f64_at(l, "far", 1.0, INT64_MAX, &t), RUNLOG_STATUS_OK);
    expect("param", runlog_log_param(l, "lr", "0.01", &t), RUNLOG_STATUS_OK);
    expect("same param again", runlog_log_param(l, "lr", "0.01", &t), RUNLOG_STATUS_OK);
    expect("empty param value", runlog_log_param(l, "note", "", &t), RUNLOG_STATUS_OK);
    expect("tag", runlog_set_tag(l, "model", "cnn", &t), RUNLOG_STATUS_OK);
    expect("tag again", runlog_set_tag(l, "model", "resnet", &t), RUNLOG_STATUS_OK);
    char *key = repeat("k", 250);
    char *pv = repeat("\xc3\xa9", 6000); /* 6000 characters, 12000 bytes: MLflow counts characters */
    char *tv = repeat("v", 8000);
    expect("250-byte key", runlog_log_param(l, key, "1", &t), RUNLOG_STATUS_OK);
    expect("6000-char param value", runlog_log_param(l, "long", pv, &t), RUNLOG_STATUS_OK);
    expect("8000-char tag value", runlog_set_tag(l, "long", tv, &t), RUNLOG_STATUS_OK);
    free(key);
    free(pv);
    free(tv);
    strcpy(last_msg, "all accepted");
  } else if (!strcmp(c, "null")) {
    expect("f64_at(NULL logger)", runlog_log_f64_at(NULL, "x", 1.0, 1, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("f64_at(NULL name)", runlog_log_f64_at(l, NULL, 1.0, 1, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("i64_at(NULL name)", runlog_log_i64_at(l, NULL, 1, 1, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("param(NULL logger)", runlog_log_param(NULL, "k", "v", &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("param(NULL key)", runlog_log_param(l, NULL, "v", &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("param(NULL value)", runlog_log_param(l, "k", NULL, &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("tag(NULL logger)", runlog_set_tag(NULL, "k", "v", &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("tag(NULL key)", runlog_set_tag(l, NULL, "v", &t), RUNLOG_STATUS_NULL_ARGUMENT);
    expect("tag(NULL value)", runlog_set_tag(l, "k", NULL, &t), RUNLOG_STATUS_NULL_ARGUMENT);
  } else if (!strcmp(c, "invalid_utf8")) {
    expect("f64_at name", runlog_log_f64_at(l, "loss\xff", 1.0, 1, &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("i64_at name", runlog_log_i64_at(l, "\xc0\xaf", 1, 1, &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("param key", runlog_log_param(l, "lr\xfe", "1", &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("param value", runlog_log_param(l, "lr", "\xed\xa0\x80", &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("tag key", runlog_set_tag(l, "\xff", "v", &t), RUNLOG_STATUS_INVALID_UTF8);
    expect("tag value", runlog_set_tag(l, "k", "v\xc3", &t), RUNLOG_STATUS_INVALID_UTF8);
  } else if (!strcmp(c, "empty_key")) {
    expect("f64_at empty name", runlog_log_f64_at(l, "", 1.0, 1, &t), RUNLOG_STATUS_EMPTY_NAME);
    expect("i64_at empty name", runlog_log_i64_at(l, "", 1, 1, &t), RUNLOG_STATUS_EMPTY_NAME);
    expect("param empty key", runlog_log_param(l, "", "1", &t), RUNLOG_STATUS_EMPTY_NAME);
    expect("tag empty key", runlog_set_tag(l, "", "1", &t), RUNLOG_STATUS_EMPTY_NAME);
  } else if (!strcmp(c, "too_long")) {
    char *key = repeat("k", 251);
    char *huge = repeat("k", 100000);
    char *pv = repeat("\xc3\xa9", 6001);
    char *tv = repeat("v", 8001);
    expect("f64_at 251-byte name", runlog_log_f64_at(l, key, 1.0, 1, &t), RUNLOG_STATUS_NAME_TOO_LONG);
    expect("param 251-byte key", runlog_log_param(l, key, "1", &t), RUNLOG_STATUS_NAME_TOO_LONG);
    expect("param 100000-byte key", runlog_log_param(l, huge, "1", &t), RUNLOG_STATUS_NAME_TOO_LONG);
    expect("tag 251-byte key", runlog_set_tag(l, key, "1", &t), RUNLOG_STATUS_NAME_TOO_LONG);
    expect("param 6001-char value", runlog_log_param(l, "k", pv, &t), RUNLOG_STATUS_VALUE_TOO_LONG);
    expect("param 100000-byte value", runlog_log_param(l, "k", huge, &t), RUNLOG_STATUS_VALUE_TOO_LONG);
    expect("tag 8001-char value", runlog_set_tag(l, "k", tv, &t), RUNLOG_STATUS_VALUE_TOO_LONG);
    expect("tag 100000-byte value", runlog_set_tag(l, "k", huge, &t), RUNLOG_STATUS_VALUE_TOO_LONG);
    free(key);
    free(huge);
    free(pv);
    free(tv);
  } else if (!strcmp(c, "negative_step")) {
    /* The fast path declines a negative step (cast, it is 2^63 or more)
     * after writing the name into the ring's free space: nothing may be
     * published, no ticket written, and the step's error must still come
     * first, before the name's. */
    t = 12345;
    expect("f64_at step -1", runlog_log_f64_at(l, "x", 1.0, -1, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("i64_at INT64_MIN", runlog_log_i64_at(l, "x", 1, INT64_MIN, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("f64_at step -2^28", runlog_log_f64_at(l, "x", 1.0, -268435456, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("i64_at step -INT64_MAX", runlog_log_i64_at(l, "x", 1, -INT64_MAX, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("f64_at step -1, NULL name", runlog_log_f64_at(l, NULL, 1.0, -1, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("f64_at step -1, bad UTF-8 name", runlog_log_f64_at(l, "\xff", 1.0, -1, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    expect("i64_at step -1, empty name", runlog_log_i64_at(l, "", 1, -1, &t), RUNLOG_STATUS_INVALID_ARGUMENT);
    if (t != 12345) {
      fprintf(stderr, "ticket written on failure\n");
      failures++;
    }
  } else if (!strcmp(c, "param_conflict")) {
    expect("first value", runlog_log_param(l, "lr", "0.01", &t), RUNLOG_STATUS_OK);
    runlog_ticket first = t;
    t = 12345;
    expect("a different value", runlog_log_param(l, "lr", "0.1", &t), RUNLOG_STATUS_PARAM_CONFLICT);
    if (t != 12345) {
      fprintf(stderr, "ticket written on failure\n");
      failures++;
    }
    if (strstr(last_msg, "0.01") == NULL || strstr(last_msg, "0.1") == NULL) {
      fprintf(stderr, "message does not name both values: %s\n", last_msg);
      failures++;
    }
    char keep[1024];
    strcpy(keep, last_msg);
    expect("the first value again", runlog_log_param(l, "lr", "0.01", &t), RUNLOG_STATUS_OK);
    if (t == first) failures++;
    strcpy(last_msg, keep);
  } else if (!strcmp(c, "step_edges")) {
    /* A step at each edge of the varint's lengths (the fast path encodes
     * steps below 2^28 without a loop), through both calls, with a short
     * name and a 250-byte one (the longest record). */
    static const int64_t steps[] = {0, 127, 128, 16383, 16384, 2097151, 2097152,
                                    268435455, 268435456, 34359738368, 72057594037927935,
                                    72057594037927936, INT64_MAX};
    char *long_name = repeat("n", 250);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
      expect("f64_at edge", runlog_log_f64_at(l, "edge/f", (double)i, steps[i], &t),
             RUNLOG_STATUS_OK);
      expect("i64_at edge", runlog_log_i64_at(l, "edge/i", -(int64_t)i, steps[i], &t),
             RUNLOG_STATUS_OK);
      expect("f64_at long name", runlog_log_f64_at(l, long_name, (double)i, steps[i], &t),
             RUNLOG_STATUS_OK);
    }
    free(long_name);
  } else if (!strcmp(c, "after_close")) {
    runlog_close(l, 0);
    expect("f64_at after close", runlog_log_f64_at(l, "x", 1.0, 1, &t), RUNLOG_STATUS_CLOSED);
    expect("param after close", runlog_log_param(l, "k", "v", &t), RUNLOG_STATUS_CLOSED);
    expect("tag after close", runlog_set_tag(l, "k", "v", &t), RUNLOG_STATUS_CLOSED);
  } else {
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
  }
  if (strcmp(c, "good") && strcmp(c, "param_conflict") && strcmp(c, "step_edges") &&
      t != 12345) {
    fprintf(stderr, "%s: a failed call wrote its ticket\n", c);
    failures++;
  }
  runlog_close(l, 0);
  if (failures) return 1;
  printf("ok %s: %s\n", c, last_msg);
  return 0;
}
