// What differs between the LibTorch versions the probe builds against: Debian's 1.13 (CPU,
// here and in CI) and the 2.x inside the GPU machine's PyTorch. Everything version-specific
// lives here or is guarded with GPROBE_TORCH_AT_LEAST.
#pragma once

#include <torch/csrc/api/include/torch/version.h>

#include <c10/util/Exception.h>

#include <string>
#include <vector>

#define GPROBE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||         \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace gprobe {

// Collects the warnings LibTorch raises (TORCH_WARN) while it is alive, instead of printing
// them; the previous handler comes back on destruction.
#if GPROBE_TORCH_AT_LEAST(2, 0)
namespace warning_utils = c10::WarningUtils;  // 2.x: c10::Warning became a class
#else
namespace warning_utils = c10::Warning;
#endif

class WarningCapture : public c10::WarningHandler {
 public:
  WarningCapture() : prev_(warning_utils::get_warning_handler()) {
    warning_utils::set_warning_handler(this);
  }
  ~WarningCapture() override { warning_utils::set_warning_handler(prev_); }
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;

#if GPROBE_TORCH_AT_LEAST(2, 0)
  void process(const c10::Warning& w) override {
    messages.push_back(w.msg());
  }
#else
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override {
    messages.push_back(msg);
  }
#endif

  std::vector<std::string> messages;

 private:
  c10::WarningHandler* prev_;
};

// The text of an exception as a user would read it: c10::Error without the C++ backtrace.
inline std::string error_text(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->msg();
  return e.what();
}

}  // namespace gprobe
