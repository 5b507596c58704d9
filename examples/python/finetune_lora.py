"""LoRA fine-tune of a small causal LM with the plain HF Trainer.

gcheck flags two things here: checkpointing is enabled after get_peft_model, so PEFT never
installs its input-require-grads hook (GC204), and with transformers < 5.1 the run is reentrant,
so the LoRA layers inside the checkpointed blocks get no gradient (GC101).
"""
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

model_id = "Qwen/Qwen2.5-0.5B"
tokenizer = AutoTokenizer.from_pretrained(model_id)
model = AutoModelForCausalLM.from_pretrained(model_id)
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
model.gradient_checkpointing_enable()

args = TrainingArguments(output_dir="out", per_device_train_batch_size=4, num_train_epochs=1)
data = load_dataset("trl-lib/Capybara", split="train[:1%]")
Trainer(model=model, args=args, train_dataset=data, tokenizer=tokenizer).train()
