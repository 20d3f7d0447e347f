"""Next-token loss: targets, the plain cross-entropy on logits, and a fused LM-head loss.

The fused loss never stores [tokens x vocab] logits for backward: it computes the loss and
the gradient of the hidden states chunk by chunk in the forward (as Liger-Kernel's fused
linear cross-entropy does), so backward is a scale of a stored [tokens x D] tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # F.cross_entropy's default ignore_index, used by every label tensor here

# Logit elements per chunk: 16 MiB of fp32 log-probabilities (+ the bf16 logits under
# autocast). On a 2-core CPU with a 32k vocabulary, ~128-token chunks halved the head's
# forward + backward time (64: slower, 512: slower); for a 2048-wide LM that is also the
# chunk Liger-Kernel's heuristic picks on GPUs (not yet measured here on one).
CHUNK_ELEMENTS = 1 << 22


def next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """[B, S] target of each position: the next token's label (-100: no loss there)."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE)


def loss_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions where any sample of the batch has a target: the only logits the loss needs."""
    return (next_token_targets(labels) != IGNORE).any(dim=0).nonzero().squeeze(1)


def mean_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits [..., V], targets [...] -> mean fp32 cross-entropy over labelled ones (0 if none)."""
    targets = targets.reshape(-1)
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets, ignore_index=IGNORE, reduction="sum"
    )
    return total / (targets != IGNORE).sum().clamp(min=1)


def lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, positions: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions (0 when there are none).

    The labels are shifted, not the logits: slicing [B, S, V] logits would copy them.
    With `positions`, `logits` holds only those positions (see `loss_positions`).
    """
    targets = next_token_targets(labels)
    if positions is not None:
        targets = targets[:, positions]
    return mean_cross_entropy(logits, targets)


def linear_cross_entropy(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
    extra_ids: torch.Tensor | None = None,
    chunk_tokens: int | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of logits = hidden @ [weight; extra]^T (+ bias) without storing them.

    hidden [..., D], targets [...] (-100 = ignored), weight [V, D], bias [V]. `extra` [n, D]
    are more output rows (the trainable marker tokens): appended as columns V..V+n-1, or,
    with `extra_ids` [n], overwriting those columns. Equal to `mean_cross_entropy` of the
    logits, under autocast too (matmuls in its dtype, softmax in fp32).
    """
    device = hidden.device.type
    autocast = torch.is_autocast_enabled(device)
    dtype = torch.get_autocast_dtype(device) if autocast else hidden.dtype
    flat_targets = targets.reshape(-1)
    # Unlabelled rows cost a full vocabulary row each; drop them before any matmul.
    rows = (flat_targets != IGNORE).nonzero().squeeze(1)
    with torch.autocast(device, enabled=False):
        h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows).to(dtype)
        total = _LinearCrossEntropy.apply(
            h,
            flat_targets.index_select(0, rows),
            weight.to(dtype),
            bias.to(dtype) if bias is not None else None,
            extra.to(dtype) if extra is not None else None,
            extra_ids,
            chunk_tokens,
            # Evaluation under no_grad: skip the gradient matmuls, which double the cost.
            torch.is_grad_enabled(),
        )
    return total / max(1, rows.numel())


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of h @ [W; E]^T + b; every gradient is computed in the forward."""

    @staticmethod
    def forward(ctx, h, targets, weight, bias, extra, extra_ids, chunk_tokens, grads):  # type: ignore[override]
        need_h, _, need_w, need_b, need_e = (grads and n for n in ctx.needs_input_grad[:5])
        vocab = weight.shape[0]
        appended = extra.shape[0] if extra is not None and extra_ids is None else 0
        chunk = chunk_tokens or max(1, CHUNK_ELEMENTS // (vocab + appended))
        chunk = max(1, min(h.shape[0], chunk))  # no labelled token: no loop, zero loss
        f32 = {"dtype": torch.float32, "device": h.device}
        grad_h = torch.empty_like(h) if need_h else None
        # Parameter gradients are summed over chunks in fp32, then cast like autograd would.
        grad_w = torch.zeros(weight.shape, **f32) if need_w else None
        grad_b = torch.zeros(vocab, **f32) if need_b else None
        grad_e = torch.zeros(extra.shape, **f32) if need_e else None
        total = torch.zeros((), **f32)
        logits_buf = h.new_empty(chunk, vocab + appended)
        # Separate fp32 buffer: log_softmax is never asked to write over its own input.
        logp_buf = torch.empty(chunk, vocab + appended, **f32)
        for start in range(0, h.shape[0], chunk):
            hc = h[start : start + chunk]
            n = hc.shape[0]
            logits = _logits(hc, weight, bias, extra, extra_ids, logits_buf[:n])
            loss, g = _softmax_minus_onehot(logits, targets[start : start + chunk], logp_buf[:n])
            total += loss
            g_extra = None
            if extra is not None:
                g_extra = g[:, vocab:] if extra_ids is None else g.index_select(1, extra_ids)
                if extra_ids is not None:
                    g.index_fill_(1, extra_ids, 0)  # overwritten columns: no gradient via W
                if grad_e is not None:
                    grad_e += (g_extra.t() @ hc).float()
            g_base = g[:, :vocab]
            if grad_h is not None:
                rows = grad_h[start : start + n]
                torch.mm(g_base, weight, out=rows)
                if g_extra is not None:
                    rows.addmm_(g_extra, extra)
            if grad_w is not None:
                grad_w += (g_base.t() @ hc).float()
            if grad_b is not None:
                grad_b += g_base.sum(0, dtype=torch.float32)
        grads = (grad_h, grad_w, grad_b, grad_e)
        refs = (h, weight, bias, extra)
        grads = [g if g is None else g.to(r.dtype) for g, r in zip(grads, refs, strict=True)]
        ctx.present = [g is not None for g in grads]
        ctx.save_for_backward(*(g for g in grads if g is not None))
        return total

    @staticmethod
    def backward(ctx, grad_total):  # type: ignore[override]
        saved = iter(ctx.saved_tensors)
        grad_h, grad_w, grad_b, grad_e = (
            next(saved) * grad_total if present else None for present in ctx.present
        )
        return grad_h, None, grad_w, grad_b, grad_e, None, None, None


def _logits(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    extra: torch.Tensor | None,
    extra_ids: torch.Tensor | None,
    out: torch.Tensor,
) -> torch.Tensor:
    """h [n, D] -> logits [n, V (+ appended rows)] written into `out` (no concatenation copy)."""
    vocab = weight.shape[0]
    torch.mm(h, weight.t(), out=out[:, :vocab])
    if bias is not None:
        out[:, :vocab] += bias
    if extra is not None and extra_ids is None:
        torch.mm(h, extra.t(), out=out[:, vocab:])
    elif extra is not None:
        out.index_copy_(1, extra_ids, h @ extra.t())
    return out


def _softmax_minus_onehot(
    logits: torch.Tensor, targets: torch.Tensor, logp: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A chunk's summed fp32 cross-entropy and d(sum)/d(logits) in the logits' dtype.

    Both buffers are overwritten; the gradient lives in one of them.
    """
    torch.log_softmax(logits, dim=1, dtype=torch.float32, out=logp)
    index = targets[:, None]
    loss = -logp.gather(1, index).sum()
    probs = logp.exp_()
    probs.scatter_add_(1, index, probs.new_full(index.shape, -1.0))
    if logits.dtype == torch.float32:
        return loss, probs
    return loss, logits.copy_(probs)  # back to the matmul dtype for the gradient products
