"""``python -m jupyter_sxwl.runtime.finetune {train,evaluate,export} [RUN.json]``.

Reads the run configuration (the file, else ``$SXWL_FINETUNE_CONFIG``) and runs one action.
Mistakes a user can fix end with exit code 2 and one line ``error: …`` on stderr. Parsing
arguments imports nothing heavy; torch loads only when an action starts.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import FinetuneError

ACTIONS = {
    "train": "fine-tune the model on the datasets; write the adapter or model to output_dir",
    "evaluate": "generate answers for the evaluation data; write predictions.jsonl and "
    "eval_results.json (ROUGE-1/2/L, BLEU-4)",
    "export": "merge the adapter into the base model (or copy the adapter) into output_dir",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_sxwl.runtime.finetune",
        description="Supervised fine-tuning of causal language models (LoRA, LoRA+, QLoRA, "
        "full), with evaluation and export. The run configuration is RUN.json, or the JSON "
        "text in $SXWL_FINETUNE_CONFIG.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in ACTIONS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("config", nargs="?", help="RUN.json (default: $SXWL_FINETUNE_CONFIG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Everything is local: never let the Hugging Face libraries reach for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .runconfig import load_run_config

    try:
        run = load_run_config(args.config)
        if args.action == "train":
            from .train import run_train

            return run_train(run)
        if args.action == "evaluate":
            from .evaluate import run_evaluate

            return run_evaluate(run)
        from .export import run_export

        return run_export(run)
    except FinetuneError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
