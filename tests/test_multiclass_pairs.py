"""k classes and sentence pairs through the whole path a learner's own task takes: loading, the
label-only baseline, TinyBERT's two steps, evaluation (macro-F1, confusion matrix), the timing
table, the confusion figure and the attention comparison over a dataset (segment ids used)."""

import datasets
import pytest
import torch

from tinybert_lab import data, tinybert, evaluation, headsim, models, training, viz

PREMISES = ["a man plays a guitar", "two dogs run in a park", "a child reads a book", "the chef cooks pasta",
            "a woman rides a bike", "birds fly over the lake"]
HYPOTHESES = ["someone makes music", "animals are outside", "a kid is sleeping", "nobody is cooking",
              "a person is on a bicycle", "the lake is empty of birds"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "pairs.tsv"
    labels = ["entailment", "entailment", "contradiction", "contradiction", "entailment", "neutral"]
    rows = [f"{p}\t{h}\t{y}" for _ in range(4) for p, h, y in zip(PREMISES, HYPOTHESES, labels)]
    path.write_text("premise\thypothesis\tlabel\n" + "\n".join(rows) + "\n")
    return data.load_text_classification(path, text_column="premise", text_pair_column="hypothesis",
                                         label_names=["entailment", "neutral", "contradiction"])


def tiny(tokenizer, seed, layers, width=48):
    return models.build_student("bert_tiny", tokenizer=tokenizer, num_labels=3, seed=seed, hidden_size=width,
                                num_attention_heads=4, intermediate_size=2 * width, num_hidden_layers=layers)


def test_pairs_and_three_classes_from_file_to_figures(pairs, tokenizer):
    assert data.num_labels(pairs) == 3 and pairs.column_names == ["text", "text_pair", "label", "idx"]
    encoded = data.encode(pairs, tokenizer)
    first = encoded[0]
    assert 1 in first["token_type_ids"]  # the hypothesis is segment 1
    teacher, student = tiny(tokenizer, 1, layers=4), tiny(tokenizer, 2, layers=2, width=32)
    config = training.TrainConfig(steps=6, batch_size=8, learning_rate=1e-3, log_every=1)
    history = training.train_classifier(teacher, pairs, tokenizer, config, progress=False)
    assert len(history.loss) == 6 and all(torch.isfinite(torch.tensor(history.loss)))
    stages = tinybert.two_step_stages(3, 3, batch_size=8, learning_rate=1e-3, log_every=1)
    histories = tinybert.run_stages(tinybert.Distiller(student, teacher), stages, pairs, tokenizer, progress=False)
    assert [len(h.loss) for h in histories.values()] == [3, 3]
    result = evaluation.evaluate(student, pairs, tokenizer)
    assert result.f1 is None and 0 <= result.macro_f1 <= 1
    confusion = torch.tensor(result.confusion)
    assert confusion.shape == (3, 3) and confusion.sum() == len(pairs)
    assert confusion.trace() == round(result.accuracy * len(pairs))
    table = evaluation.benchmark_inference({"teacher": teacher, "student": student}, pairs, tokenizer)
    assert [row["model"] for row in table.rows] == ["teacher", "student"]
    fig = viz.plot_confusion_matrix(result.confusion, ["entailment", "neutral", "contradiction"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["entailment", "neutral", "contradiction"]
    similarity = headsim.head_similarity(teacher, student, pairs, tokenizer, n=12)
    assert similarity.matrix.shape == (2 * 4, 4 * 4)


def test_segment_ids_change_what_the_model_sees(pairs, tokenizer):
    model = tiny(tokenizer, 3, layers=2).eval()
    batch = data.model_inputs(next(iter(data.make_loader(data.encode(pairs, tokenizer), tokenizer, batch_size=4,
                                                          shuffle=False))))
    with torch.no_grad():
        with_segments = model(**batch).logits
        without = model(**{k: v for k, v in batch.items() if k != "token_type_ids"}).logits
    assert not torch.allclose(with_segments, without)  # the loader passes segment ids, and they matter


def test_a_label_outside_the_model_is_refused(tokenizer):
    four = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 3], "idx": [0, 1]})
    with pytest.raises(evaluation.TinyBertLabError, match="outside the model's label set 0..2"):
        evaluation.evaluate(tiny(tokenizer, 0, layers=1), four, tokenizer)


def test_pair_attention_shows_both_segments(pairs, tokenizer, tmp_path):
    from tinybert_lab import attention_page, widgets
    from tinybert_lab.core.mapping import LayerMap

    teacher, student = tiny(tokenizer, 1, layers=4), tiny(tokenizer, 2, layers=2)
    ui = widgets.attention_widget(teacher, student, tokenizer, LayerMap.uniform(2, 4), sentence=PREMISES[0],
                                  pair=HYPOTHESES[0])
    fig = ui.result
    tokens = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    start = tokens.index("[SEP]") + 1  # "a man plays a guitar [SEP]", then "someone makes music [SEP]"
    assert viz.segment_boundary(tokens) == start and tokens[start:] == ["someone", "makes", "music", "[SEP]"]
    dashed = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert len(dashed) == 2  # one line across the keys, one across the queries, between the segments
    blue = {t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_color() == "tab:blue"}
    assert blue == {"someone", "makes", "music", "[SEP]"}
    single = widgets.attention_widget(teacher, student, tokenizer, LayerMap.uniform(2, 4), sentence=PREMISES[0])
    assert not [line for line in single.result.axes[0].lines if line.get_linestyle() == "--"]
    assert viz.segment_boundary(["[CLS]", "a", "[SEP]"]) is None
    page = attention_page.write_attention_page(teacher, student, [(PREMISES[1], HYPOTHESES[1])], tokenizer,
                                               tmp_path / "pairs.html", layer_map=LayerMap.uniform(2, 4))
    text = page.read_text(encoding="utf-8")
    assert "two dogs run in a park | animals are" in text and '"dash":"dash"' in text
    with pytest.raises(evaluation.TinyBertLabError, match=r"\(sentence, second\) pairs"):
        attention_page.write_attention_page(teacher, student, [("only one",)], tokenizer, tmp_path / "x.html")


def test_augmented_pairs_get_k_class_teacher_labels_and_distil(pairs, tokenizer):
    from tinybert_lab import augment

    teacher, student = tiny(tokenizer, 1, layers=4), tiny(tokenizer, 2, layers=2, width=32)
    sources = pairs.select(range(6))
    transfer = augment.transfer_set(sources, tokenizer, teacher, config=augment.AugmentConfig(n_per_sentence=2, probability=0.5))
    augmented = transfer.augmented
    assert len(augmented) > len(sources) and "text_pair" in augmented.column_names
    assert all(row["text_pair"] == sources[row["source_idx"]]["text_pair"] for row in augmented)  # hypotheses kept
    assert all(1 in ids for ids in transfer.encoded["token_type_ids"])  # both segments encoded
    logits = transfer.logits.lookup(torch.tensor(transfer.encoded["idx"]))
    assert logits.shape == (len(augmented), 3)  # the teacher's soft labels over the 3 classes
    stages = tinybert.two_step_stages(2, 3, batch_size=4, learning_rate=1e-3, log_every=1)
    histories = tinybert.run_stages(tinybert.Distiller(student, teacher), stages, augmented, tokenizer, progress=False)
    assert len(histories["prediction"].loss) == 3 and all(torch.isfinite(torch.tensor(histories["prediction"].loss)))
