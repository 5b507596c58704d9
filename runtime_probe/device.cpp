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
  return at::globalContext().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0;
#else
  return false;
#endif
}

std::string cuda_name(int index) {
#ifdef GCHECK_CUDA
  return at::cuda::getDeviceProperties(index)->name;
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
const c10::cuda::CUDACachingAllocator::Stat& aggregate(
    const c10::cuda::CUDACachingAllocator::DeviceStats& s) {
  return s.allocated_bytes[static_cast<size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE)];
}
}  // namespace
#endif

void reset_peak(int index) {
#ifdef GCHECK_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(index);
#else
  (void)index;
#endif
}

int64_t allocated_bytes(int index) {
#ifdef GCHECK_CUDA
  return aggregate(c10::cuda::CUDACachingAllocator::getDeviceStats(index)).current;
#else
  (void)index;
  return 0;
#endif
}

int64_t peak_bytes(int index) {
#ifdef GCHECK_CUDA
  return aggregate(c10::cuda::CUDACachingAllocator::getDeviceStats(index)).peak;
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
