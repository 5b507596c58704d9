// Stand-in for LibTorch's torch/csrc/distributed/autograd/context/context.h, which Debian's
// libtorch-dev 1.13 does not install although c10d/reducer.hpp includes it. reducer.hpp needs
// only the GradCallback type and a shared_ptr to the context (its layout does not depend on
// the pointee); gcheck-probe never uses distributed autograd. Used only when the real header
// is missing (see runtime_probe/CMakeLists.txt).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
