// The accelerator, behind one small interface so that only device.cpp needs CUDA headers.
#pragma once

#include <cstdint>
#include <string>

namespace gprobe::device {

bool cuda_available();
std::string cuda_name(int index);
void synchronize();                  // waits for the current CUDA device (no-op on CPU)
void reset_peak(int index);          // CUDA allocator peak statistics
int64_t allocated_bytes(int index);  // now
int64_t peak_bytes(int index);       // since reset_peak
void empty_cache();

}  // namespace gprobe::device
