// runlog.hpp: C++17 wrapper over runlog.h.
//
//   auto log = runlog::get_logger();
//   log.log("loss", 0.5);                 // returns a runlog::Pending
//   log.log("epoch", 3).wait();           // waits until committed at the destination
//   log.log("losses", {0.9, 0.5, 0.3});   // a list: one chart, steps 0..n-1
//   log.log("train/loss", 0.3, runlog::step(i));   // at a training step (MLflow's step)
//   log.param("lr", 0.01);                // a hyperparameter: one value per key
//   log.tag("model", "resnet");           // a run tag: the last value wins
//   log.upload("reports/summary.txt", "text");
//
// Errors are thrown as runlog::Error, carrying the status and the message of
// runlog_last_error(). A Logger is safe to use from many threads at once.
#ifndef RUNLOG_HPP
#define RUNLOG_HPP

#include <charconv>
#include <chrono>
#include <cmath>
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

// A double as Python's str() writes it (what MLflow's client sends for
// log_param("lr", 0.01)): the shortest digits that read back to the same
// double, fixed notation for exponents -4..15 with at least one decimal
// ("1.0"), else d.ddde+XX; "inf", "-inf", "nan".
inline std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  // Shortest round-trip digits in scientific form: [-]d[.ddd]e[+-]XX.
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const auto e_at = sci.find('e');
  const int exp = std::stoi(sci.substr(e_at + 1));
  std::string digits = sci.substr(0, e_at);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  if (exp < -4 || exp >= 16) {
    std::string mant = digits.substr(0, 1);
    if (digits.size() > 1) mant += "." + digits.substr(1);
    std::string e = std::to_string(exp < 0 ? -exp : exp);
    if (e.size() < 2) e = "0" + e;
    return sign + mant + "e" + (exp < 0 ? "-" : "+") + e;
  }
  std::string out;
  if (exp < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else if (static_cast<std::size_t>(exp) + 1 >= digits.size()) {
    out = digits + std::string(static_cast<std::size_t>(exp) + 1 - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<std::size_t>(exp) + 1) + "." +
          digits.substr(static_cast<std::size_t>(exp) + 1);
  }
  return sign + out;
}

// A param value as MLflow's Python client writes it: str(value).
inline std::string param_text(bool v) { return v ? "True" : "False"; }
template <class T, std::enable_if_t<is_int<T>::value, int> = 0>
std::string param_text(T v) {
  return std::to_string(v);
}
inline std::string param_text(double v) { return python_float(v); }
inline std::string param_text(float v) { return python_float(static_cast<double>(v)); }
inline std::string param_text(const char* v) { return v; }
inline std::string param_text(std::string_view v) { return std::string(v); }
inline std::string param_text(const std::string& v) { return v; }

// Containers with contiguous data() and size() of arithmetic elements.
template <class C, class = void>
struct has_data : std::false_type {};
template <class C>
struct has_data<C, std::void_t<decltype(std::data(std::declval<const C&>())),
                                decltype(std::size(std::declval<const C&>()))>>
    : std::true_type {};
}  // namespace detail

/// A training step, as MLflow's `log_metric(key, value, step)` takes it:
/// `log.log("loss", v, runlog::step(i))`. Steps are 0 or more.
struct Step {
  int64_t value;
};
/// The step `s`.
constexpr Step step(int64_t s) noexcept { return Step{s}; }

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
  /// An integer at a training step (bool included).
  template <class T, std::enable_if_t<detail::is_int<T>::value, int> = 0>
  Pending log(const char* name, T value, Step at) {
    runlog_ticket t = 0;
    detail::check(runlog_log_i64_at(logger_, name, static_cast<int64_t>(value), at.value, &t));
    return Pending(logger_, t);
  }
  /// A float at a training step: series logged at different rates line up by step.
  template <class T, std::enable_if_t<std::is_floating_point<T>::value, int> = 0>
  Pending log(const char* name, T value, Step at) {
    runlog_ticket t = 0;
    detail::check(runlog_log_f64_at(logger_, name, static_cast<double>(value), at.value, &t));
    return Pending(logger_, t);
  }
  /// A hyperparameter (MLflow's log_param): one value per key; the same value
  /// again is fine, a different one throws Error (PARAM_CONFLICT). Numbers
  /// and bools are written as MLflow's Python client writes them (str(v):
  /// 0.01 -> "0.01", 1e-05, 32, True).
  template <class T>
  Pending param(const char* key, const T& value) {
    runlog_ticket t = 0;
    const std::string text = detail::param_text(value);
    detail::check(runlog_log_param(logger_, key, text.c_str(), &t));
    return Pending(logger_, t);
  }
  /// A run tag (MLflow's set_tag): the last value wins.
  Pending tag(const char* key, std::string_view value) {
    runlog_ticket t = 0;
    const std::string text(value);
    detail::check(runlog_set_tag(logger_, key, text.c_str(), &t));
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
    detail::check(runlog_upload(logger_, path, content.data(), content.size(), &t));
    return Pending(logger_, t);
  }
  /// Uploads raw bytes.
  Pending upload(const char* path, const void* data, std::size_t len) {
    runlog_ticket t = 0;
    detail::check(runlog_upload(logger_, path, data, len, &t));
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
