#include "runtime_probe/device.h"

#include <ATen/Context.h>

#ifdef GCHECK_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace gprobe::device {

bool cuda_available() {
#ifdef GCHECK_CUDA
  return c10::cuda::device_count() > 0;
#else
  return false;
#endif
}

std::string cuda_name(int index) {
#ifdef GCHECK_CUDA
  return at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(index))->name;
#else
  (void)index;
  return "";
#endif
}

void synchronize() {
#ifdef GCHECK_CUDA
  if (cuda_available()) c10::cuda::device_synchronize();
#endif
}

#ifdef GCHECK_CUDA
namespace {
// allocated_bytes[AGGREGATE] (AGGREGATE is 0). The stats types moved between LibTorch
// versions (c10::cuda::CUDACachingAllocator -> c10::CachingDeviceAllocator), so they are
// not named here.
template <class Stats>
const auto& aggregate_allocated(const Stats& s) {
  return s.allocated_bytes[0];
}
}  // namespace
#endif

void reset_peak(int index) {
#ifdef GCHECK_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
#else
  (void)index;
#endif
}

int64_t allocated_bytes(int index) {
#ifdef GCHECK_CUDA
  auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  return aggregate_allocated(stats).current;
#else
  (void)index;
  return 0;
#endif
}

int64_t peak_bytes(int index) {
#ifdef GCHECK_CUDA
  auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  return aggregate_allocated(stats).peak;
#else
  (void)index;
  return 0;
#endif
}

void empty_cache() {
#ifdef GCHECK_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

}  // namespace gprobe::device
