// The C++ wrapper: RAII loggers from options, overloads for numbers, strings
// and containers, and errors raised as runlog::Error with status and message.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <list>
#include <string>
#include <vector>

#include "runlog.hpp"

static int failures = 0;

template <class F>
static void expect_error(const char* what, runlog_status want, F&& f) {
  try {
    f();
    std::cerr << what << ": no exception\n";
    failures++;
  } catch (const runlog::Error& e) {
    if (e.status() != want || std::strlen(e.what()) == 0) {
      std::cerr << what << ": status " << e.status() << " (" << e.what() << ")\n";
      failures++;
    } else {
      std::cout << what << ": " << e.what() << "\n";
    }
  }
}

int main() {
  runlog_options o = runlog_options_default();
  o.run_id = "cpp-wrapper";
  o.experiment = "wrapper";
  {
    runlog::Logger log(o);
    log.log("int", 7);
    log.log("uint8", static_cast<unsigned char>(200));
    log.log("bool", true);
    log.log("float", 0.25f);
    log.log("double", 0.125);
    log.log("cstr", "text");
    log.log("string", std::string("owned"));
    log.log("view", std::string_view("viewed"));
    log.log("ints", {1, 2, 3});
    log.log("doubles", {0.5, 1.5});
    log.log("array", std::array<float, 3>{1.0f, 2.0f, 3.0f});
    log.log("deque", std::deque<int>{4, 5});
    log.log("list", std::list<double>{6.5, 7.5});
    log.log("vector", std::vector<long long>{-1, -2});
    log.log("nan", std::nan(""));
    log.upload("bytes.bin", "\x01\x02\x03", 3);

    expect_error("empty name", RUNLOG_STATUS_EMPTY_NAME, [&] { log.log("", 1); });
    expect_error("unsafe path", RUNLOG_STATUS_UNSAFE_PATH, [&] { log.upload("../x", "y"); });
    expect_error("bad utf-8", RUNLOG_STATUS_INVALID_UTF8, [&] { log.log("bad\xff", 1.0); });
    expect_error("long name", RUNLOG_STATUS_NAME_TOO_LONG,
                 [&] { log.log(std::string(300, 'n').c_str(), 1.0); });
    expect_error("wait without uploader", RUNLOG_STATUS_TIMEOUT,
                 [&] { log.log("waited", 1).wait(std::chrono::milliseconds(100)); });
    expect_error("missing file", RUNLOG_STATUS_IO,
                 [&] { log.upload_file("f.bin", "/nonexistent/f.bin"); });
    // Without an uploader, close ends the run and frees the ring, but says it could not wait.
    expect_error("close without uploader", RUNLOG_STATUS_TIMEOUT,
                 [&] { log.close(std::chrono::milliseconds(0)); });
    expect_error("log after close", RUNLOG_STATUS_CLOSED, [&] { log.log("late", 1); });
  }
  return failures;
}
