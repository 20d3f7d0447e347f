"""New-token rows for a frozen LM: only the marker tokens' embeddings are trained."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.errors import ModelError


def _mean_rows(weight: torch.Tensor, count: int) -> torch.Tensor:
    """Start new rows at the mean of the existing ones (in distribution for the frozen LM)."""
    return weight.detach().float().mean(dim=0, keepdim=True).repeat(count, 1)


class ExtendedEmbedding(nn.Module):
    """A frozen embedding plus trainable rows looked up for `new_ids`."""

    def __init__(self, base: nn.Embedding, new_ids: list[int]) -> None:
        super().__init__()
        self.base = base
        self.num_base = base.weight.shape[0]
        self.register_buffer("new_ids", torch.tensor(new_ids), persistent=False)
        self.new_weight = nn.Parameter(_mean_rows(base.weight, len(new_ids)))

    @property
    def weight(self) -> torch.Tensor:
        """The frozen table, for code that reads `embed_tokens.weight` (dtype, device, tying)."""
        return self.base.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [...] -> [..., D]; base rows are bit-identical to the frozen embedding."""
        x = self.base(ids.clamp(max=self.num_base - 1))
        match = ids[..., None] == self.new_ids  # [..., n_new]
        # A one-hot product keeps the gradient on new_weight without a scatter.
        new_rows = match.to(x.dtype) @ self.new_weight.to(x.dtype)
        return torch.where(match.any(-1, keepdim=True), new_rows, x)


class _AppendedLogits(torch.autograd.Function):
    """logits = h @ [W; E]^T written into one buffer, gradients for h and E only.

    Concatenating two logit tensors copies a [tokens, vocab] tensor every step; writing both
    products into slices of one buffer avoids that copy and never forms a gradient for W.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, extra):  # type: ignore[override]
        rows = weight.shape[0]
        out = hidden.new_empty(hidden.shape[0], rows + extra.shape[0])
        torch.mm(hidden, weight.t(), out=out[:, :rows])
        torch.mm(hidden, extra.t(), out=out[:, rows:])
        if bias is not None:
            out[:, :rows] += bias
        ctx.save_for_backward(hidden, weight, extra)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        hidden, weight, extra = ctx.saved_tensors
        rows = weight.shape[0]
        grad_hidden = grad[:, :rows] @ weight
        grad_hidden.addmm_(grad[:, rows:], extra)
        grad_extra = grad[:, rows:].t() @ hidden
        return grad_hidden, None, None, grad_extra


class ExtendedLMHead(nn.Module):
    """A frozen output projection plus logits for the new tokens (tied or own rows)."""

    def __init__(self, base: nn.Linear, new_ids: list[int], tied: nn.Parameter | None) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("new_ids", torch.tensor(new_ids), persistent=False)
        # New ids that continue the base vocabulary are appended; ids inside it (tokenizers
        # smaller than a padded embedding table) overwrite those unused columns.
        first = base.out_features
        self.append = list(new_ids) == list(range(first, first + len(new_ids)))
        self.new_weight = (
            tied if tied is not None else nn.Parameter(_mean_rows(base.weight, len(new_ids)))
        )

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [..., D] -> logits [..., V'], base columns bit-identical to the frozen head."""
        if not self.append:
            logits = self.base(hidden)
            extra = F.linear(hidden, self.new_weight.to(hidden.dtype)).to(logits.dtype)
            return logits.index_copy(-1, self.new_ids, extra)
        device = hidden.device.type
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else hidden.dtype
        bias = self.base.bias.to(dtype) if self.base.bias is not None else None
        # The Function is not autocast-aware; cast once here as nn.Linear would.
        with torch.autocast(device, enabled=False):
            flat = hidden.reshape(-1, hidden.shape[-1]).to(dtype)
            logits = _AppendedLogits.apply(
                flat, self.base.weight.to(dtype), bias, self.new_weight.to(dtype)
            )
        return logits.view(*hidden.shape[:-1], logits.shape[-1])


def extend_vocabulary(lm: nn.Module, new_ids: list[int]) -> None:
    """Swap the LM's input/output embeddings for extended ones; tied LMs share the new rows."""
    inp = lm.get_input_embeddings()
    out = lm.get_output_embeddings()
    tied = out is not None and out.weight is inp.weight
    if max(new_ids) >= inp.weight.shape[0] and list(new_ids) != list(
        range(inp.weight.shape[0], inp.weight.shape[0] + len(new_ids))
    ):
        raise ModelError(
            "new_token_ids_gap", f"ids {new_ids} leave a gap after {inp.weight.shape[0]} rows"
        )
    emb = ExtendedEmbedding(inp, new_ids)
    lm.set_input_embeddings(emb)
    if out is not None:
        lm.set_output_embeddings(ExtendedLMHead(out, new_ids, emb.new_weight if tied else None))
