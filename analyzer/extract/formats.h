// The per-format extractors. Each reads the keys its stack reads, as that stack spells them.
#pragma once

#include "analyzer/extract/reader.h"

namespace gcheck::extract {

// Keys every HF-Trainer-based stack accepts (TrainingArguments fields): gradient
// checkpointing and its kwargs, DDP, DeepSpeed, FSDP, compile.
void hf_training_args(Reader& r, Facts& f);
// gradient_checkpointing_kwargs (a mapping, or a JSON string as HF accepts).
void gc_kwargs(Reader& r, Facts& f, cfg::NodeId m, std::string_view prefix);
// fsdp_config (TrainingArguments / Axolotl): activation checkpointing, version, sharding.
void fsdp_config(Reader& r, Facts& f, cfg::NodeId m, std::string_view path);
// A DeepSpeed config mapping (file root or inline dict).
void deepspeed_dict(Reader& r, Facts& f, cfg::NodeId m, std::string_view prefix);

void axolotl(Reader& r, Facts& f);
void hf_trl(Reader& r, Facts& f);
void llamafactory(Reader& r, Facts& f);
void llamafactory_v1(Reader& r, Facts& f);
void torchtune(Reader& r, Facts& f);
void accelerate(Reader& r, Facts& f);
void deepspeed(Reader& r, Facts& f);

// Trainer kind named by a path component or file name ("recipes/x/dpo/config.yaml").
std::optional<std::string> trainer_from_path(std::string_view path);
bool is_rl_trainer(std::string_view trainer);

}  // namespace gcheck::extract
