import pytest
import torch

from tinybert_lab import teacher_init, models
from tinybert_lab.core.errors import TinyBertLabError


@pytest.fixture(scope="module")
def small_teacher(tokenizer):
    """A random 3-layer, 48-wide BERT standing in for a teacher (4 heads of 12, FFN 96)."""
    model = models.build_student("mini2", tokenizer=tokenizer, seed=3, num_hidden_layers=3, hidden_size=48,
                                 num_attention_heads=4, intermediate_size=96)
    with torch.no_grad():  # non-trivial biases and LayerNorms, so the test sees them
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(scope="module")
def inputs(tokenizer):
    return tokenizer(["a gripping , funny film", "dull and far too long for what it says"],
                     padding=True, return_tensors="pt")


def student_like(tokenizer, **kw):
    settings = dict(num_hidden_layers=3, hidden_size=48, num_attention_heads=4, intermediate_size=96)
    return models.build_student("mini2", tokenizer=tokenizer, seed=7, **{**settings, **kw}).eval()


def test_default_layers_keep_the_first_and_last_and_spread_the_rest():
    assert teacher_init.default_layers(4, 6) == [1, 2, 4, 6]
    assert teacher_init.default_layers(3, 6) == [1, 3, 6]
    assert teacher_init.default_layers(2, 6) == [1, 6]
    assert teacher_init.default_layers(6, 6) == [1, 2, 3, 4, 5, 6]
    assert teacher_init.default_layers(1, 12) == [12]


def test_identity_basis_and_all_layers_reproduce_the_teacher(tokenizer, small_teacher, inputs):
    student = student_like(tokenizer)
    teacher_init.project_teacher(student, small_teacher, torch.eye(48))
    with torch.no_grad():
        torch.testing.assert_close(student(**inputs).logits, small_teacher(**inputs).logits, atol=1e-5, rtol=1e-5)


def test_skipped_layers_run_the_chosen_teacher_layers(tokenizer, small_teacher, inputs):
    student = student_like(tokenizer, num_hidden_layers=2)
    teacher_init.project_teacher(student, small_teacher, torch.eye(48), layers=[1, 3])
    with torch.no_grad():
        got = student(**inputs, output_hidden_states=True).hidden_states
        want = small_teacher(**inputs, output_hidden_states=True).hidden_states
        torch.testing.assert_close(got[1], want[1], atol=1e-5, rtol=1e-5)  # layer 1 is copied and fed the same input
        assert not torch.allclose(got[2], want[2], atol=1e-3)  # layer 3 now reads layer 1's output, not layer 2's


def test_residual_basis_is_orthonormal_and_ordered(small_teacher, inputs):
    basis = teacher_init.residual_basis(small_teacher, dict(inputs), 20)
    assert basis.shape == (48, 20)
    torch.testing.assert_close(basis.T @ basis, torch.eye(20), atol=1e-5, rtol=0)
    with torch.no_grad():
        states = small_teacher(**inputs, output_hidden_states=True).hidden_states
    rows = torch.cat([h[inputs["attention_mask"].bool()] for h in states])
    energy = ((rows @ basis) ** 2).sum(0)  # variance captured by each direction, largest first
    assert torch.all(energy[:-1] >= energy[1:] - 1e-3)
    assert energy.sum() / (rows**2).sum() > 20 / 48  # better than a random 20-dim subspace


def test_low_rank_split_is_the_best_rank_r_approximation():
    torch.manual_seed(0)
    left, right = torch.randn(20, 6), torch.randn(6, 20)  # a rank-6 product, as a head's maps are
    new_left, new_right = teacher_init._split_low_rank(left, right, 4)
    assert new_left.shape == (20, 4) and new_right.shape == (4, 20)
    product = left @ right
    singular = torch.linalg.svdvals(product)
    error = torch.linalg.matrix_norm(product - new_left @ new_right)
    assert error == pytest.approx(singular[4:].square().sum().sqrt().item(), rel=1e-4)  # Eckart–Young
    full_left, full_right = teacher_init._split_low_rank(left, right, 6)  # full rank: exact
    torch.testing.assert_close(full_left @ full_right, product, atol=1e-4, rtol=1e-4)


def test_narrow_student_keeps_attention_patterns_when_the_rank_allows(tokenizer, small_teacher, inputs):
    # Heads of 12 in the teacher, 10 in the student, 40 of 48 residual directions kept: layer 1's
    # attention differs by the projection and the rank cut, but the pattern survives.
    student = student_like(tokenizer, hidden_size=40, intermediate_size=80)
    basis = teacher_init.residual_basis(small_teacher, dict(inputs), 40)
    teacher_init.project_teacher(student, small_teacher, basis)
    with torch.no_grad():
        t = small_teacher(**inputs, output_attentions=True).attentions[0]
        s = student(**inputs, output_attentions=True).attentions[0]
    assert s.shape[1] == t.shape[1]
    assert (s - t).abs().mean() < 0.25 * t.std()  # same pattern, approximately


def test_errors_name_the_problem(tokenizer, small_teacher):
    with pytest.raises(TinyBertLabError, match="attention heads"):
        teacher_init.project_teacher(student_like(tokenizer, num_attention_heads=2), small_teacher, torch.eye(48))
    with pytest.raises(TinyBertLabError, match="can only shrink"):
        teacher_init.project_teacher(student_like(tokenizer, hidden_size=64), small_teacher, torch.eye(48))
    with pytest.raises(TinyBertLabError, match="one teacher layer per student layer"):
        teacher_init.project_teacher(student_like(tokenizer), small_teacher, torch.eye(48), layers=[1, 2])
    with pytest.raises(TinyBertLabError, match=r"numbered 1\.\.3"):
        teacher_init.project_teacher(student_like(tokenizer), small_teacher, torch.eye(48), layers=[0, 1, 2])
    with pytest.raises(TinyBertLabError, match=r"expected \(teacher width, student width\) = \(48, 40\)"):
        teacher_init.project_teacher(student_like(tokenizer, hidden_size=40, intermediate_size=80), small_teacher,
                                 torch.eye(48))


def test_projection_is_bitwise_reproducible(teacher, tokenizer, sst2):
    """Same teacher, same sentences, same seed: the same weights to the last bit, so a checkpointed
    run recognises its own starting point and resumes instead of starting over."""
    from tinybert_lab import teacher_init, data

    sample = data.subsample(sst2["train"], 64, seed=0)
    first, _ = teacher_init.projected_student(teacher, tokenizer, sample, seed=3)
    second, _ = teacher_init.projected_student(teacher, tokenizer, sample, seed=3)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_residual_basis_over_batches_spans_the_same_directions(small_teacher, inputs):
    whole = teacher_init.residual_basis(small_teacher, dict(inputs), 20)
    halves = [{k: v[:1] for k, v in dict(inputs).items()}, {k: v[1:] for k, v in dict(inputs).items()}]
    split = teacher_init.residual_basis(small_teacher, halves, 20)
    torch.testing.assert_close(split @ split.T, whole @ whole.T, atol=1e-4, rtol=0)  # same subspace, signs aside
    with pytest.raises(TinyBertLabError, match="no batches"):
        teacher_init.residual_basis(small_teacher, [], 20)
