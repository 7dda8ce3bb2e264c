"""Same numbers before and after a refactor: a tiny ``tinybert-lab all`` run and ``own_task.distil``
(fixed seeds, a scratch cache), printed as a sha256 of every weight of each student (first 16 hex)
and the own-task students' dev accuracy. Run it at two commits and compare the lines; issue 29's
moves printed the same four lines before and after (see that issue's note).

    TINYBERT_LAB_CACHE=/tmp/parity-cache .venv/bin/python benchmarks/recipe_parity.py /tmp/parity-out
"""

import argparse
import hashlib

import torch

from tinybert_lab import cli, models, own_task


def digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="parity-out", help="folder for the tiny runs (default: parity-out)")
    out = parser.parse_args().out
    torch.set_num_threads(1)
    rc = cli.main(["all", "--set", "teacher.steps=20", "--set", "task.steps=24", "--set", "data.train_size=400",
                   "--set", "data.dev_size=200", "--set", f"out_dir={out}/cli", "--set", "task.eval_every=0"])
    print("cli rc", rc)
    for name in ("distilled", "labels_only"):
        print("cli", name, digest(models.load_classifier(f"{out}/cli/{name}", num_labels=2)))
    path = own_task.write_example(f"{out}/trec.tsv", size=300)
    task = own_task.load_task(path, text_column=1, label_column=0, header=False)
    teacher = own_task.fine_tune_teacher(task, steps=10, progress=False).model
    runs = own_task.distil(task, teacher, steps=12, progress=False)
    for name in ("distilled", "labels only"):
        print("own_task", name, digest(runs[name]), f"{own_task.evaluate(task, runs[name]).accuracy:.6f}")


if __name__ == "__main__":
    main()
