#include "analyzer/extract/formats.h"

namespace gcheck::extract {

void accelerate(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  r.read_text(root, "distributed_type", "distributed_type", f.distributed_type);
  r.read_int(root, "num_processes", "num_processes", f.num_processes);
  r.read_int(root, "num_machines", "num_machines", f.num_machines);
  if (cfg::NodeId ds = r.map(root, "deepspeed_config"); ds != cfg::kNone) {
    r.read_int(ds, "zero_stage", "deepspeed_config.zero_stage", f.zero_stage);
    r.read_text(ds, "deepspeed_config_file", "deepspeed_config.deepspeed_config_file",
                f.deepspeed_config_file);
  }
  if (cfg::NodeId fc = r.map(root, "fsdp_config"); fc != cfg::kNone) {
    fsdp_config(r, f, fc, "fsdp_config");
  }
  if (cfg::NodeId dyn = r.map(root, "dynamo_config"); dyn != cfg::kNone) {
    Opt<std::string> backend;
    if (r.read_text(dyn, "dynamo_backend", "dynamo_config.dynamo_backend", backend)) {
      std::string b = lower(backend->value);
      if (b != "no" && !b.empty())
        f.torch_compile = Fact<bool>{true, backend->loc, backend->key_loc, backend->key, backend->raw, backend->node};
    }
  }
}

void deepspeed(Reader& r, Facts& f) { deepspeed_dict(r, f, r.root(), ""); }

}  // namespace gcheck::extract
