"""Fused LM-head loss: same loss and gradients as cross-entropy on materialised logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.loss import (
    IGNORE,
    linear_cross_entropy,
    lm_loss,
    loss_positions,
    mean_cross_entropy,
    next_token_targets,
)

TIGHT = {"rtol": 1e-5, "atol": 1e-6}


def problem(n=23, d=8, vocab=40, extra=0, ignored_every=3, seed=0, weight_grad=False):
    """hidden, targets, weight, bias and extra rows; targets may point at extra columns."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g).requires_grad_()
    weight = torch.randn(vocab, d, generator=g).requires_grad_(weight_grad)
    bias = torch.randn(vocab, generator=g).requires_grad_(weight_grad)
    rows = torch.randn(extra, d, generator=g).requires_grad_()
    targets = torch.randint(0, vocab + extra, (n,), generator=g)
    if ignored_every:
        targets[::ignored_every] = IGNORE
    return hidden, targets, weight, bias, rows


def reference(hidden, targets, weight, bias=None, extra=None, extra_ids=None):
    """The unfused computation: materialised logits, then F.cross_entropy."""
    logits = F.linear(hidden, weight, bias)
    if extra is not None and extra_ids is None:
        logits = torch.cat([logits, F.linear(hidden, extra)], dim=-1)
    elif extra is not None:
        logits = logits.index_copy(-1, extra_ids, F.linear(hidden, extra))
    return mean_cross_entropy(logits, targets)


def grads(loss, tensors):
    return torch.autograd.grad(loss, tensors, allow_unused=True)


@pytest.mark.parametrize("chunk", [1, 5, 7, 23, 64, None])
def test_loss_and_hidden_gradient_match_cross_entropy_for_any_chunk_size(chunk):
    hidden, targets, weight, _, _ = problem()
    expected = reference(hidden, targets, weight)
    loss = linear_cross_entropy(hidden, targets, weight, chunk_tokens=chunk)
    torch.testing.assert_close(loss, expected, **TIGHT)
    torch.testing.assert_close(grads(loss, hidden)[0], grads(expected, hidden)[0], **TIGHT)


def test_ignored_targets_get_zero_gradient_and_do_not_count():
    hidden, targets, weight, _, _ = problem(ignored_every=2)
    loss = linear_cross_entropy(hidden, targets, weight, chunk_tokens=4)
    grad = grads(loss, hidden)[0]
    assert (grad[targets == IGNORE] == 0).all() and (grad[targets != IGNORE] != 0).any()
    kept = targets != IGNORE
    alone = linear_cross_entropy(hidden[kept], targets[kept], weight)
    torch.testing.assert_close(loss, alone, **TIGHT)


def test_no_labelled_token_gives_zero_loss_and_zero_gradient():
    hidden, _, weight, _, rows = problem(extra=2)
    targets = torch.full((hidden.shape[0],), IGNORE)
    loss = linear_cross_entropy(hidden, targets, weight, extra=rows, chunk_tokens=3)
    assert loss.item() == 0 and loss.requires_grad
    grad_h, grad_e = grads(loss, (hidden, rows))
    assert torch.equal(grad_h, torch.zeros_like(hidden))
    assert grad_e is None or torch.equal(grad_e, torch.zeros_like(rows))


def test_batched_hidden_states_flatten_like_the_targets():
    hidden, targets, weight, _, _ = problem(n=24)
    loss = linear_cross_entropy(hidden.view(2, 12, -1), targets.view(2, 12), weight)
    torch.testing.assert_close(loss, reference(hidden, targets, weight), **TIGHT)


@pytest.mark.parametrize("placement", ["appended", "overwritten"])
def test_extra_rows_get_their_gradient_whether_appended_or_overwriting(placement):
    hidden, targets, weight, bias, rows = problem(extra=3, seed=1)
    vocab = weight.shape[0]
    ids = torch.tensor([4, 9, 30]) if placement == "overwritten" else None
    if ids is not None:
        targets = torch.where(targets >= vocab, 0, targets)  # no column past the vocabulary
    columns = ids if ids is not None else torch.arange(vocab, vocab + 3)
    targets[[1, 2, 4]] = columns  # labelled targets on every extra row's column
    expected = reference(hidden, targets, weight, bias, rows, ids)
    loss = linear_cross_entropy(hidden, targets, weight, bias, rows, ids, chunk_tokens=6)
    torch.testing.assert_close(loss, expected, **TIGHT)
    for got, want in zip(grads(loss, (hidden, rows)), grads(expected, (hidden, rows)), strict=True):
        torch.testing.assert_close(got, want, **TIGHT)


def test_trainable_weight_and_bias_get_their_gradients_too():
    hidden, targets, weight, bias, rows = problem(extra=2, seed=2, weight_grad=True)
    ids = torch.tensor([0, 17])
    tensors = (hidden, weight, bias, rows)
    expected = reference(hidden, targets, weight, bias, rows, ids)
    loss = linear_cross_entropy(hidden, targets, weight, bias, rows, ids, chunk_tokens=5)
    torch.testing.assert_close(loss, expected, **TIGHT)
    got, want = grads(loss, tensors), grads(expected, tensors)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)
    assert (got[1][ids] == 0).all()  # overwritten columns take no gradient through W


def test_backward_scales_with_the_upstream_gradient():
    hidden, targets, weight, _, _ = problem()
    loss = linear_cross_entropy(hidden, targets, weight, chunk_tokens=4)
    once = grads(loss, hidden)[0]
    loss = linear_cross_entropy(hidden, targets, weight, chunk_tokens=4)
    torch.testing.assert_close(grads(loss * 2.5, hidden)[0], once * 2.5, **TIGHT)


def test_bf16_autocast_matches_the_autocast_reference_and_keeps_dtypes():
    hidden, targets, weight, bias, rows = problem(n=40, d=16, vocab=300, extra=2, seed=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = reference(hidden, targets, weight, bias, rows)
        loss = linear_cross_entropy(hidden, targets, weight, bias, rows, chunk_tokens=9)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    torch.testing.assert_close(loss, expected, rtol=1e-2, atol=1e-2)
    got, want = grads(loss, (hidden, rows)), grads(expected, (hidden, rows))
    assert got[0].dtype == hidden.dtype and got[1].dtype == rows.dtype
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=5e-2, atol=2e-3)
    fp32 = reference(hidden, targets, weight, bias, rows)
    torch.testing.assert_close(loss, fp32, rtol=2e-2, atol=5e-2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 30),
    vocab=st.integers(2, 50),
    chunk=st.integers(1, 40),
    ignored=st.integers(0, 4),
    seed=st.integers(0, 1000),
)
def test_any_shape_and_chunking_equals_the_reference(n, vocab, chunk, ignored, seed):
    hidden, targets, weight, _, rows = problem(n, 4, vocab, 1, ignored, seed)
    loss = linear_cross_entropy(hidden, targets, weight, extra=rows, chunk_tokens=chunk)
    expected = reference(hidden, targets, weight, extra=rows)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, expected, **TIGHT)
    if n:
        torch.testing.assert_close(grads(loss, hidden)[0], grads(expected, hidden)[0], **TIGHT)


def test_targets_positions_and_lm_loss_agree_with_a_shifted_cross_entropy():
    labels = torch.tensor([[-100, 5, 6, -100], [-100, -100, 7, 8]])
    assert next_token_targets(labels).tolist() == [[5, 6, -100, -100], [-100, 7, 8, -100]]
    assert loss_positions(labels).tolist() == [0, 1, 2]
    logits = torch.randn(2, 4, 10)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 10), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(lm_loss(logits, labels), expected)
    keep = loss_positions(labels)
    torch.testing.assert_close(lm_loss(logits[:, keep], labels, keep), expected)


def test_under_no_grad_the_loss_is_the_same_and_no_gradient_matmul_runs(monkeypatch):
    hidden, targets, weight, _, rows = problem(extra=2, weight_grad=True)
    want = linear_cross_entropy(hidden, targets, weight, extra=rows, chunk_tokens=5)
    calls = {"mm": 0}
    real_mm = torch.mm

    def counting_mm(*args, **kwargs):
        calls["mm"] += 1
        return real_mm(*args, **kwargs)

    monkeypatch.setattr(torch, "mm", counting_mm)
    with torch.no_grad():
        got = linear_cross_entropy(hidden, targets, weight, extra=rows, chunk_tokens=5)
    assert not got.requires_grad
    torch.testing.assert_close(got, want.detach(), **TIGHT)
    labelled = int((targets != IGNORE).sum())
    chunks = -(-labelled // 5)
    # Logits only: the head and the appended rows, once per chunk (no grad_h product).
    assert calls["mm"] == 2 * chunks
    calls["mm"] = 0
    linear_cross_entropy(hidden, targets, weight, extra=rows, chunk_tokens=5)
    assert calls["mm"] == 3 * chunks
