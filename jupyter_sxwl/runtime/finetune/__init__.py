"""Supervised fine-tuning of causal language models (LoRA, LoRA+, QLoRA, full)."""
