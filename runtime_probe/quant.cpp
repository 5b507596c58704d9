#include "runtime_probe/quant.h"

#include "runtime_probe/nf4_levels.h"

#include <c10/core/GradMode.h>
#include <ATen/ATen.h>

#ifdef GCHECK_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace gprobe {

const float kNf4Levels[16] = {GPROBE_NF4_LEVELS};

namespace {
at::Tensor levels_on(at::Device d) {
  return at::tensor(at::ArrayRef<float>(kNf4Levels, 16), at::TensorOptions().dtype(at::kFloat))
      .to(d);
}
}  // namespace

QuantWeight quantize_nf4(const at::Tensor& w, bool double_quant) {
  c10::NoGradGuard no_grad;
  QuantWeight q;
  q.bits = 4;
  q.rows = w.size(0);
  q.cols = w.size(1);
  auto flat = w.detach().to(at::kFloat).reshape({-1});
  int64_t n = flat.numel();
  int64_t nblocks = (n + kNf4Block - 1) / kNf4Block;
  auto padded = at::zeros({nblocks * kNf4Block}, flat.options());
  padded.narrow(0, 0, n).copy_(flat);
  auto blocks = padded.view({nblocks, kNf4Block});
  auto absmax = blocks.abs().amax(1).clamp_min(1e-12);
  auto normed = blocks / absmax.unsqueeze(1);
  // nearest level
  auto levels = levels_on(w.device());
  auto idx = (normed.unsqueeze(-1) - levels).abs().argmin(-1).to(at::kByte).reshape({-1});
  if (idx.numel() % 2) idx = at::cat({idx, at::zeros({1}, idx.options())});
  auto pairs = idx.view({-1, 2});
  q.codes = (pairs.select(1, 0) * 16 + pairs.select(1, 1)).to(at::kByte).contiguous();
  if (!double_quant) {
    q.absmax = absmax.contiguous();
    return q;
  }
  // Double quantization: absmax - mean, blocks of 256, symmetric int8 with a float scale.
  q.absmax_offset = absmax.mean().item<double>();
  auto centered = absmax - q.absmax_offset;
  int64_t nb2 = (nblocks + kNf4AbsmaxBlock - 1) / kNf4AbsmaxBlock;
  auto padded2 = at::zeros({nb2 * kNf4AbsmaxBlock}, centered.options());
  padded2.narrow(0, 0, nblocks).copy_(centered);
  auto b2 = padded2.view({nb2, kNf4AbsmaxBlock});
  auto scale = b2.abs().amax(1).clamp_min(1e-12) / 127.0;
  auto qv = at::round(b2 / scale.unsqueeze(1)).clamp(-127, 127).reshape({-1}).narrow(0, 0, nblocks);
  q.absmax_q = (qv + 128).to(at::kByte).contiguous();
  q.absmax_scale = scale.contiguous();
  return q;
}

QuantWeight quantize_int8(const at::Tensor& w) {
  c10::NoGradGuard no_grad;
  QuantWeight q;
  q.bits = 8;
  q.rows = w.size(0);
  q.cols = w.size(1);
  auto wf = w.detach().to(at::kFloat);
  q.row_scale = (wf.abs().amax(1).clamp_min(1e-12) / 127.0).contiguous();
  q.q = at::round(wf / q.row_scale.unsqueeze(1)).clamp(-127, 127).to(at::kChar).contiguous();
  return q;
}

at::Tensor nf4_absmax(const QuantWeight& q) {
  if (!q.absmax_q.defined()) return q.absmax;
  int64_t nblocks = q.absmax_q.numel();
  auto scale = q.absmax_scale.repeat_interleave(kNf4AbsmaxBlock).narrow(0, 0, nblocks);
  return (q.absmax_q.to(at::kFloat) - 128) * scale + q.absmax_offset;
}

at::Tensor QuantWeight::dequantize(at::ScalarType dtype, bool use_kernel) const {
  c10::NoGradGuard no_grad;
  (void)use_kernel;
  if (bits == 8) return (q.to(at::kFloat) * row_scale.unsqueeze(1)).to(dtype);
  int64_t n = rows * cols;
  auto absmax_f = nf4_absmax(*this);
#ifdef GCHECK_CUDA
  if (use_kernel && codes.is_cuda()) {
    auto am = absmax_f.contiguous();
    int64_t padded_n = am.numel() * kNf4Block;  // codes cover whole blocks
    auto out = at::empty({padded_n}, codes.options().dtype(at::kFloat));
    int rc = gprobe_nf4_dequant_f32(
        codes.data_ptr<uint8_t>(), am.data_ptr<float>(), out.data_ptr<float>(), padded_n,
        c10::cuda::getCurrentCUDAStream(codes.device().index()).stream());
    TORCH_CHECK(rc == 0, "NF4 dequantization kernel failed to launch (cuda error ", rc, ")");
    auto w = out.narrow(0, 0, n).view({rows, cols});
    return dtype == at::kFloat ? w : w.to(dtype);
  }
#endif
  // ATen fallback: split the nibbles, look the levels up, scale each block by its absmax.
  auto hi = at::floor_divide(codes, 16);
  auto lo = at::remainder(codes, 16);
  auto idx = at::stack({hi, lo}, 1).reshape({-1}).to(at::kLong);
  auto vals = levels_on(codes.device()).index_select(0, idx);
  int64_t nblocks = absmax_f.numel();
  auto padded = vals.narrow(0, 0, nblocks * kNf4Block).view({nblocks, kNf4Block});
  auto w = (padded * absmax_f.unsqueeze(1)).reshape({-1}).narrow(0, 0, n).view({rows, cols});
  return w.to(dtype);
}

std::vector<std::pair<std::string, at::Tensor>> QuantWeight::tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add = [&](const char* k, const at::Tensor& t) {
    if (t.defined()) out.emplace_back(k, t);
  };
  add("codes", codes);
  add("absmax", absmax);
  add("absmax_q", absmax_q);
  add("absmax_scale", absmax_scale);
  if (absmax_q.defined()) add("absmax_offset", at::scalar_tensor(absmax_offset, at::kDouble));
  add("q", q);
  add("row_scale", row_scale);
  return out;
}

}  // namespace gprobe
