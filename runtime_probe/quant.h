// Frozen base weights as QLoRA and LLM.int8 keep them: NF4 (4-bit NormalFloat, blocks of 64,
// the 16 published levels, optional double quantization of the absmax scales) and int8
// (row-wise absmax). Forward dequantizes on the fly: a CUDA kernel when built with
// GCHECK_CUDA and the weight is on the GPU, else ATen operations.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gprobe {

constexpr int64_t kNf4Block = 64;         // elements per absmax scale
constexpr int64_t kNf4AbsmaxBlock = 256;  // absmax values per second-level scale

// The 16 NF4 levels of QLoRA (Dettmers et al. 2023), as bitsandbytes ships them.
extern const float kNf4Levels[16];

struct QuantWeight {
  int bits = 0;  // 4 or 8
  int64_t rows = 0, cols = 0;
  // NF4: two 4-bit codes per byte, the first element in the high nibble.
  at::Tensor codes;          // uint8 [ceil(n/2)]
  at::Tensor absmax;         // float [nblocks]                      (no double quantization)
  at::Tensor absmax_q;       // uint8 [nblocks], absmax - offset as int8 + 128 (double quant)
  at::Tensor absmax_scale;   // float [ceil(nblocks/256)]            (double quant)
  double absmax_offset = 0;  //                                      (double quant)
  // int8
  at::Tensor q;          // int8 [rows, cols]
  at::Tensor row_scale;  // float [rows]

  // The float weight [rows, cols] in `dtype` (no autograd history). `use_kernel`: the CUDA
  // kernel for weights on the GPU (else the ATen operations, as on CPU).
  at::Tensor dequantize(at::ScalarType dtype, bool use_kernel = true) const;
  // Every tensor it holds, named (for the parity dump).
  std::vector<std::pair<std::string, at::Tensor>> tensors() const;
};

QuantWeight quantize_nf4(const at::Tensor& w, bool double_quant);
QuantWeight quantize_int8(const at::Tensor& w);

// The NF4 absmax of every block, from double quantization when present.
at::Tensor nf4_absmax(const QuantWeight& q);

#ifdef GCHECK_CUDA
// Defined in nf4_dequant.cu: out[i] = levels[code(i)] * absmax[i / 64], float32 output.
extern "C" int gprobe_nf4_dequant_f32(const uint8_t* codes, const float* absmax, float* out,
                                      int64_t n, void* stream);
#endif

}  // namespace gprobe
