// runlog.hpp: C++17 wrapper over runlog.h.
//
//   auto log = runlog::get_logger();
//   log.log("loss", 0.5);                 // returns a runlog::Pending
//   log.log("epoch", 3).wait();           // waits until committed at the destination
//   log.log("losses", {0.9, 0.5, 0.3});   // a list: one chart, steps 0..n-1
//   log.upload("reports/summary.txt", "text");
//
// Errors are thrown as runlog::Error, carrying the status and the message of
// runlog_last_error(). A Logger is safe to use from many threads at once.
#ifndef RUNLOG_HPP
#define RUNLOG_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runlog.h"

namespace runlog {

/// A failed runlog call: the status and the library's message.
class Error : public std::runtime_error {
 public:
  Error(runlog_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  /// The status code the C call returned.
  runlog_status status() const noexcept { return status_; }

 private:
  runlog_status status_;
};

namespace detail {
inline std::string last_error() {
  std::string msg(256, '\0');
  std::size_t n = runlog_last_error(msg.data(), msg.size());
  if (n >= msg.size()) {
    msg.resize(n + 1);
    n = runlog_last_error(msg.data(), msg.size());
  }
  msg.resize(n < msg.size() ? n : msg.size() - 1);
  return msg;
}

inline void check(runlog_status s) {
  if (s != RUNLOG_STATUS_OK) {
    std::string msg = last_error();
    if (msg.empty()) msg = runlog_status_str(static_cast<uint32_t>(s));
    throw Error(s, msg);
  }
}

inline uint32_t to_ms(std::chrono::milliseconds t) {
  auto c = t.count();
  if (c < 0) return 0;
  if (c > static_cast<decltype(c)>(UINT32_MAX)) return UINT32_MAX;
  return static_cast<uint32_t>(c);
}

template <class T>
using is_int = std::conjunction<std::is_integral<T>, std::negation<std::is_same<T, char>>>;

// Containers with contiguous data() and size() of arithmetic elements.
template <class C, class = void>
struct has_data : std::false_type {};
template <class C>
struct has_data<C, std::void_t<decltype(std::data(std::declval<const C&>())),
                                decltype(std::size(std::declval<const C&>()))>>
    : std::true_type {};
}  // namespace detail

/// Default time Pending::wait, flush and close wait.
inline constexpr std::chrono::milliseconds default_timeout{10000};

/// A logged record: wait() blocks until it is committed at the destination.
class Pending {
 public:
  Pending(runlog_logger* logger, runlog_ticket ticket) noexcept
      : logger_(logger), ticket_(ticket) {}
  /// Waits until committed (host: the uploader acknowledged it; device:
  /// handed to the transport). Throws Error (status TIMEOUT, with the reason)
  /// when that does not happen within `timeout`.
  void wait(std::chrono::milliseconds timeout = default_timeout) const {
    detail::check(runlog_wait(logger_, ticket_, detail::to_ms(timeout)));
  }
  /// The record's ticket (its sequence number).
  runlog_ticket ticket() const noexcept { return ticket_; }

 private:
  runlog_logger* logger_;
  runlog_ticket ticket_;
};

/// A logger. Owning loggers (from options) are closed by the destructor;
/// the process-wide one (get_logger()) is closed at process exit.
class Logger {
 public:
  /// Opens a logger with explicit options (runlog_open).
  explicit Logger(const runlog_options& options) : owned_(true) {
    detail::check(runlog_open(&options, &logger_));
  }
  /// Wraps the process-wide logger without owning it (runlog_get_logger).
  static Logger process_wide() {
    runlog_logger* l = runlog_get_logger();
    if (l == nullptr) throw Error(RUNLOG_STATUS_IO, detail::last_error());
    return Logger(l, false);
  }
  /// Wraps a handle; `owned` loggers are closed by the destructor.
  Logger(runlog_logger* handle, bool owned) noexcept : logger_(handle), owned_(owned) {}

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;
  Logger(Logger&& o) noexcept : logger_(o.logger_), owned_(o.owned_) { o.logger_ = nullptr; }
  Logger& operator=(Logger&& o) noexcept {
    if (this != &o) {
      release();
      logger_ = o.logger_;
      owned_ = o.owned_;
      o.logger_ = nullptr;
    }
    return *this;
  }
  ~Logger() { release(); }

  /// Integers (bool included) are logged as int64.
  template <class T, std::enable_if_t<detail::is_int<T>::value, int> = 0>
  Pending log(const char* name, T value) {
    runlog_ticket t = 0;
    detail::check(runlog_log_i64(logger_, name, static_cast<int64_t>(value), &t));
    return Pending(logger_, t);
  }
  /// Floating point is logged as double; NaN and infinities are values.
  template <class T, std::enable_if_t<std::is_floating_point<T>::value, int> = 0>
  Pending log(const char* name, T value) {
    runlog_ticket t = 0;
    detail::check(runlog_log_f64(logger_, name, static_cast<double>(value), &t));
    return Pending(logger_, t);
  }
  /// Strings (a tag on the MLflow wire).
  Pending log(const char* name, const char* value) {
    runlog_ticket t = 0;
    detail::check(runlog_log_str(logger_, name, value, &t));
    return Pending(logger_, t);
  }
  Pending log(const char* name, const std::string& value) { return log(name, value.c_str()); }
  Pending log(const char* name, std::string_view value) { return log(name, std::string(value)); }
  /// Lists from an initializer list: `log("m", {1, 2, 3})`, `log("m", {0.5, 0.25})`.
  template <class T, std::enable_if_t<std::is_arithmetic<T>::value, int> = 0>
  Pending log(const char* name, std::initializer_list<T> values) {
    return log_list(name, values.begin(), values.size());
  }
  /// Lists from a container of numbers (vector, array, span, deque, ...).
  template <class C, std::enable_if_t<!std::is_arithmetic<C>::value &&
                                          !std::is_convertible<const C&, std::string_view>::value,
                                      int> = 0>
  Pending log(const char* name, const C& values) {
    using E = std::remove_cv_t<std::remove_reference_t<decltype(*std::begin(values))>>;
    static_assert(std::is_arithmetic<E>::value, "runlog: lists hold numbers");
    if constexpr (detail::has_data<C>::value) {
      return log_list(name, std::data(values), std::size(values));
    } else {
      std::vector<E> copy(std::begin(values), std::end(values));
      return log_list(name, copy.data(), copy.size());
    }
  }
  /// Uploads `content` as the run's artifact `path` (relative, no `..`).
  Pending upload(const char* path, std::string_view content) {
    runlog_ticket t = 0;
    detail::check(runlog_upload(logger_, path, reinterpret_cast<const uint8_t*>(content.data()),
                                content.size(), &t));
    return Pending(logger_, t);
  }
  /// Uploads raw bytes.
  Pending upload(const char* path, const void* data, std::size_t len) {
    runlog_ticket t = 0;
    detail::check(runlog_upload(logger_, path, static_cast<const uint8_t*>(data), len, &t));
    return Pending(logger_, t);
  }
  /// Uploads a file's content (read or staged before returning).
  Pending upload_file(const char* path, const char* file_path) {
    runlog_ticket t = 0;
    detail::check(runlog_upload_file(logger_, path, file_path, &t));
    return Pending(logger_, t);
  }
  /// Waits until everything logged so far is committed.
  void flush(std::chrono::milliseconds timeout = default_timeout) {
    detail::check(runlog_flush(logger_, detail::to_ms(timeout)));
  }
  /// Ends the run and waits (bounded) for the upload; later calls throw CLOSED.
  void close(std::chrono::milliseconds timeout = default_timeout) {
    detail::check(runlog_close(logger_, detail::to_ms(timeout)));
  }
  /// The C handle, for calls the wrapper does not cover.
  runlog_logger* handle() const noexcept { return logger_; }

 private:
  template <class E>
  Pending log_list(const char* name, const E* values, std::size_t n) {
    runlog_ticket t = 0;
    if constexpr (std::is_floating_point<E>::value) {
      if constexpr (std::is_same<E, double>::value) {
        detail::check(runlog_log_f64_list(logger_, name, values, n, &t));
      } else {
        std::vector<double> v(values, values + n);
        detail::check(runlog_log_f64_list(logger_, name, v.data(), n, &t));
      }
    } else if constexpr (std::is_same<E, int64_t>::value) {
      detail::check(runlog_log_i64_list(logger_, name, values, n, &t));
    } else {
      std::vector<int64_t> v(values, values + n);
      detail::check(runlog_log_i64_list(logger_, name, v.data(), n, &t));
    }
    return Pending(logger_, t);
  }

  void release() noexcept {
    if (logger_ != nullptr && owned_) {
      // Bounded, and skipped when no uploader is draining; records stay in the spool.
      (void)runlog_close(logger_, 2000);
    }
    logger_ = nullptr;
  }

  runlog_logger* logger_ = nullptr;
  bool owned_ = false;
};

/// The process-wide logger, configured from the environment (RUNLOG_RUN_ID,
/// RUNLOG_SPOOL, RUNLOG_EXPERIMENT), like get_azureml_logger().
inline Logger get_logger() { return Logger::process_wide(); }

}  // namespace runlog

#endif  // RUNLOG_HPP
