"""New-token rows: frozen rows stay bit-identical, gradients reach only the new rows."""

from __future__ import annotations

import torch
from torch import nn

from trainer.model.vocab import ExtendedEmbedding, ExtendedLMHead, _AppendedLogits


def test_appended_logits_gradients_match_autograd_reference():
    torch.manual_seed(0)
    h = torch.randn(5, 4, dtype=torch.double, requires_grad=True)
    w = torch.randn(7, 4, dtype=torch.double)
    b = torch.randn(7, dtype=torch.double)
    e = torch.randn(2, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_AppendedLogits.apply, (h, w, b, e))
    ref = torch.cat([h @ w.t() + b, h @ e.t()], dim=-1)
    assert torch.allclose(_AppendedLogits.apply(h, w, b, e), ref)


def test_head_with_ids_inside_a_padded_table_overwrites_those_columns():
    torch.manual_seed(0)
    base = nn.Linear(4, 10, bias=False).requires_grad_(False)
    head = ExtendedLMHead(base, [7, 8], tied=None)
    h = torch.randn(2, 3, 4)
    logits = head(h)
    assert logits.shape == (2, 3, 10)
    keep = [i for i in range(10) if i not in (7, 8)]
    assert torch.equal(logits[..., keep], base(h)[..., keep])
    logits[..., 7].sum().backward()
    assert head.new_weight.grad[0].abs().sum() > 0 and head.new_weight.grad[1].abs().sum() == 0


def test_embedding_rows_and_gradients():
    torch.manual_seed(0)
    base = nn.Embedding(6, 3).requires_grad_(False)
    emb = ExtendedEmbedding(base, [6, 7])
    ids = torch.tensor([[0, 6, 5, 7, 6]])
    out = emb(ids)
    assert torch.equal(out[0, [0, 2]], base(torch.tensor([0, 5])))
    assert torch.allclose(out[0, 1], base.weight.mean(0)) and torch.equal(out[0, 1], out[0, 4])
    out.sum().backward()
    assert torch.equal(emb.new_weight.grad, torch.tensor([[2.0] * 3, [1.0] * 3]))
    assert base.weight.grad is None
