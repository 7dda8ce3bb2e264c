"""Characters or a small BPE for the language-model teacher? Measured, not guessed (issue 26).

Trains the teacher's shape once per tokenizer for the same number of steps on windows holding
about the same number of characters (128 characters, or 64 BPE tokens of ~2 characters), then
prints, on the validation text: bits per character (comparable across tokenizers), how widely
the next-token distribution spreads (entropy in bits per token, 2^entropy "plausible" tokens,
tokens covering 90 % of the probability, top-1 probability) and seconds per step, with the
reference step measured in the same run. The distillation story is clearer when the teacher's
distribution spreads over many plausible tokens: that is what a soft target carries beyond the
one right answer.

    .venv/bin/python benchmarks/lm_tokenizer.py [--steps 400] [--threads 2]
Record: benchmarks/results/lm_tokenizer.json (one run per tokenizer; a rerun skips finished ones).
"""

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from tinybert_lab import data, records
from tinybert_lab.core.training import fit
from tinybert_lab.methods import causal_lm as lm, lm_eval
from tinybert_lab.teaching.tutorial import reference_step_seconds

RECORD = Path(__file__).parent / "results" / "lm_tokenizer.json"
BLOCKS = {"char": 128, "bpe": 64}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    record = records.RunRecord(args.record, key=lambda r: (r["tokenizer"], r["steps"]),
                               command="python " + " ".join(sys.argv))
    corpus = data.load_shakespeare()
    for kind in ("char", "bpe"):
        if record.has({"tokenizer": kind, "steps": args.steps}):
            continue
        reference = reference_step_seconds()
        spec = replace(lm.TEACHER, tokenizer=kind, block=BLOCKS[kind], stride=BLOCKS[kind] // 2, steps=args.steps)
        tokenizer = lm.build_tokenizer(kind, corpus.train, vocab_size=spec.bpe_vocab)
        ids = lm.encode_text(tokenizer, corpus.train)
        train = lm.token_blocks(ids, spec.block, stride=spec.stride)
        model = lm.build_lm(lm.gpt2_config(spec, len(tokenizer), pad_token_id=tokenizer.pad_token_id), seed=0)
        config = replace(spec.train_config(), checkpoint_every=0)
        history = fit(lm.NextTokenObjective(model), train, tokenizer, config, progress=False)
        scores = lm_eval.language_scores(model, tokenizer, corpus.validation, block=spec.block)
        spread = lm_eval.spread(model, tokenizer, corpus.validation, block=spec.block)
        record.add({"tokenizer": kind, "steps": args.steps, "vocabulary": len(tokenizer),
                    "characters_per_token": len(corpus.train) / ids.numel(), "block": spec.block,
                    "seconds_per_step": history.seconds / args.steps, "reference_step_seconds": reference,
                    "bits_per_character": scores.bits_per_character, "validation_loss": scores.loss,
                    **{f"spread_{k}": v for k, v in asdict(spread).items()},
                    "command": record.meta["command"], "machine": records.machine()})
    report(record)


def report(record) -> None:
    print("| tokenizer | vocabulary | chars/token | s/step (reference step) | bits/char | entropy (bits/token) "
          "| plausible tokens (2^H) | tokens for 90 % | top-1 prob. |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in record.runs:
        print(f"| {r['tokenizer']} ({r['steps']} steps) | {r['vocabulary']} | {r['characters_per_token']:.2f} | "
              f"{r['seconds_per_step']:.2f} ({r['reference_step_seconds']:.2f}) | {r['bits_per_character']:.3f} | "
              f"{r['spread_entropy_bits']:.2f} | {r['spread_plausible']:.1f} | {r['spread_tokens_for_90']:.1f} | "
              f"{r['spread_top1']:.2f} |")


if __name__ == "__main__":
    main()
