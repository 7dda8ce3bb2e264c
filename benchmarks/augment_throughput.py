"""TinyBERT data augmentation: batched ``augment`` against the word-by-word reference.

On the same SST-2 train sentences, times ``augment.augment`` and
``augment.augment_word_by_word`` for both candidate sources, prints sentences per second and the
speed-up, and checks that the two return the same dataset (same seed, same random draws):

- ``embedding``: nearest neighbours in the real teacher's (30522 x 384) word-embedding table;
- ``mlm``: a small ``BertForMaskedLM`` (2 layers, hidden 128, the teacher's vocabulary) with
  **random weights**: its candidates are nonsense, only the throughput is measured.

Each timed call includes its own set-up (candidate mask, normalising the table, the model copy).

    TINYBERT_LAB_DATA=../shared/data .venv/bin/python benchmarks/augment_throughput.py
    ... --count 50 --sources embedding       # a quick run
"""

import argparse
import os
import sys
import time

import torch

from tinybert_lab import augment, data, models


def mlm_model(tokenizer, seed: int):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertForMaskedLM(config).eval()


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="SST-2 train sentences (a seeded subsample)")
    parser.add_argument("--n-per-sentence", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch (augment)")
    parser.add_argument("--mlm-batch-size", type=int, default=64, help="masked copies per forward pass (augment)")
    parser.add_argument("--dtype", default="float64", choices=sorted(augment.DTYPES))
    parser.add_argument("--sources", default="embedding,mlm", help="comma-separated: embedding,mlm")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    tokenizer = models.load_tokenizer()
    sentences = data.subsample(data.load_sst2()["train"], args.count, seed=args.seed)
    split = [augment.split_words(text, tokenizer) for text in sentences["sentence"]]
    n_words = sum(len(words) for words in split)
    n_replaceable = sum(w.replaceable for words in split for w in words)
    n_distinct = len({w.token_id for words in split for w in words if w.replaceable})
    print(f"{len(sentences)} SST-2 train sentences (subsample seed {args.seed}): {n_words} words, "
          f"{n_replaceable} replaceable ({n_distinct} distinct tokens)")
    print(f"n_per_sentence={args.n_per_sentence}, p=0.4, K=15, batch_size={args.batch_size}, "
          f"mlm_batch_size={args.mlm_batch_size}, {args.dtype}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("word by word = one neighbour query / one forward pass per replaceable word\n")

    all_equal = True
    rows = []
    for source in [s.strip() for s in args.sources.split(",") if s.strip()]:
        config = augment.AugmentConfig(n_per_sentence=args.n_per_sentence, source=source, seed=args.seed,
                                       batch_size=args.batch_size, mlm_batch_size=args.mlm_batch_size,
                                       dtype=args.dtype)
        if source == "embedding":
            inputs = {"teacher_embeddings": models.load_teacher().get_input_embeddings().weight.detach()}
            what = "teacher word embeddings (30522 x 384)"
        else:
            inputs = {"mlm_model": mlm_model(tokenizer, args.seed)}
            what = "BertForMaskedLM 2L-128, RANDOM weights (throughput only)"
        fast, fast_s = timed(augment.augment, sentences, tokenizer, config=config, **inputs)
        slow, slow_s = timed(augment.augment_word_by_word, sentences, tokenizer, config=config, **inputs)
        equal = fast.to_dict() == slow.to_dict()
        all_equal &= equal
        rows.append((source, what, fast_s, slow_s, len(fast), equal))

    print(f"{'source':<10} {'batched s':>9} {'sent/s':>8} {'word-by-word s':>14} {'sent/s':>8} "
          f"{'speed-up':>8} {'rows':>5}  equal  candidates from")
    for source, what, fast_s, slow_s, n_rows, equal in rows:
        print(f"{source:<10} {fast_s:>9.2f} {len(sentences) / fast_s:>8.1f} {slow_s:>14.2f} "
              f"{len(sentences) / slow_s:>8.1f} {slow_s / fast_s:>7.1f}x {n_rows:>5}  {str(equal):<5}  {what}")
    print("\noutputs identical (batched vs word by word):", all_equal)
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
