// NF4 dequantization on the GPU: out[i] = levels[code(i)] * absmax[i / 64]. Each thread turns
// 4 bytes of codes (8 weights) into two float4 stores; the 16 levels sit in constant memory.
// Plain CUDA (no LibTorch headers) so that nvcc compiles it quickly and in C++17.
#include <cuda_runtime.h>

#include <cstdint>

namespace {

__constant__ float kLevels[16] = {-1.0f,
                                  -0.6961928009986877f,
                                  -0.5250730514526367f,
                                  -0.39491748809814453f,
                                  -0.28444138169288635f,
                                  -0.18477343022823334f,
                                  -0.09105003625154495f,
                                  0.0f,
                                  0.07958029955625534f,
                                  0.16093020141124725f,
                                  0.24611230194568634f,
                                  0.33791524171829224f,
                                  0.44070982933044434f,
                                  0.5626170039176941f,
                                  0.7229568362236023f,
                                  1.0f};

// n8: number of 8-weight groups. A block of 64 weights = 8 groups share one absmax.
__global__ void nf4_dequant_vec(const uint32_t* __restrict__ codes,
                                const float* __restrict__ absmax, float4* __restrict__ out,
                                int64_t n8) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < n8;
       g += stride) {
    uint32_t c = __ldg(codes + g);
    float s = __ldg(absmax + (g >> 3));
    // byte b holds weights 2b (high nibble) and 2b+1 (low nibble); little-endian word
    float4 a, b;
    a.x = kLevels[(c >> 4) & 15] * s;
    a.y = kLevels[c & 15] * s;
    a.z = kLevels[(c >> 12) & 15] * s;
    a.w = kLevels[(c >> 8) & 15] * s;
    b.x = kLevels[(c >> 20) & 15] * s;
    b.y = kLevels[(c >> 16) & 15] * s;
    b.z = kLevels[(c >> 28) & 15] * s;
    b.w = kLevels[(c >> 24) & 15] * s;
    out[2 * g] = a;
    out[2 * g + 1] = b;
  }
}

}  // namespace

// n: number of weights, a multiple of 64 (the quantizer pads to whole blocks).
extern "C" int gprobe_nf4_dequant_f32(const uint8_t* codes, const float* absmax, float* out,
                                      int64_t n, void* stream) {
  int64_t n8 = n / 8;
  int threads = 256;
  int dev = 0;
  cudaGetDevice(&dev);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  int64_t want = (n8 + threads - 1) / threads;
  int64_t cap = static_cast<int64_t>(sms > 0 ? sms : 132) * 32;
  int blocks = static_cast<int>(want < cap ? want : cap);
  if (blocks < 1) blocks = 1;
  nf4_dequant_vec<<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(
      reinterpret_cast<const uint32_t*>(codes), absmax, reinterpret_cast<float4*>(out), n8);
  return static_cast<int>(cudaGetLastError());
}
