// NF4 dequantization on the GPU: out[i] = levels[code(i)] * absmax[i / 64]. Each thread turns
// two bytes of codes (4 weights) into one float4, so a warp's stores are 512 contiguous bytes;
// the 16 levels sit in shared memory (a table lookup with divergent indices would serialize
// in constant memory). Plain CUDA, no LibTorch headers, C++17.
#include <cuda_runtime.h>

#include <cstdint>

#include "runtime_probe/nf4_levels.h"

namespace {

__constant__ float kLevels[16] = {GPROBE_NF4_LEVELS};

// n4: number of 4-weight groups; 16 groups (64 weights) share one absmax. A code byte holds
// two weights, the first in the high nibble.
__global__ void nf4_dequant_f4(const uint16_t* __restrict__ codes, const float* __restrict__ absmax,
                               float4* __restrict__ out, int64_t n4) {
  __shared__ float levels[16];
  if (threadIdx.x < 16) levels[threadIdx.x] = kLevels[threadIdx.x];
  __syncthreads();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t f = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; f < n4;
       f += stride) {
    const uint32_t c = __ldg(codes + f);  // little-endian: byte 0 = weights 4f, 4f+1
    const float s = __ldg(absmax + (f >> 4));
    float4 v;
    v.x = levels[(c >> 4) & 15] * s;
    v.y = levels[c & 15] * s;
    v.z = levels[(c >> 12) & 15] * s;
    v.w = levels[(c >> 8) & 15] * s;
    out[f] = v;
  }
}

}  // namespace

// n: number of weights, a multiple of 64 (the quantizer pads to whole blocks).
extern "C" int gprobe_nf4_dequant_f32(const uint8_t* codes, const float* absmax, float* out,
                                      int64_t n, void* stream) {
  const int64_t n4 = n / 4;
  const int threads = 256;
  int dev = 0;
  cudaGetDevice(&dev);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t want = (n4 + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sms > 0 ? sms : 132) * 16;
  int blocks = static_cast<int>(want < cap ? want : cap);
  if (blocks < 1) blocks = 1;
  nf4_dequant_f4<<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(
      reinterpret_cast<const uint16_t*>(codes), absmax, reinterpret_cast<float4*>(out), n4);
  return static_cast<int>(cudaGetLastError());
}
