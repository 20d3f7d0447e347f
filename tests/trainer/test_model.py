"""Flamingo model: masking, exact equivalence with the frozen LM, what trains and what does not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.fixtures.trainer_data import TINY_FLAMINGO
from trainer.config import ModelConfig
from trainer.errors import ModelError
from trainer.model import (
    GatedCrossAttentionBlock,
    MaskedCrossAttention,
    PerceiverResampler,
    build_flamingo,
    trainable_parameters,
)
from trainer.model.lm import find_decoder_layers, load_language_model
from trainer.model.xattn import media_attention_mask

ARCHS = ("gpt2", "llama", "opt")
TEXTS = [
    "text before any picture. <image>a photo of a red square.<|endofchunk|><image>a blue circle",
    "the cat sat <image>a photo of a green stripe.<|endofchunk|>",
]


def build(lm_dir, **over):
    torch.manual_seed(0)
    cfg = ModelConfig(lm_path=str(lm_dir), **{**TINY_FLAMINGO, **over})
    return build_flamingo(cfg)


def frozen_lm(lm_dir):
    return load_language_model(str(lm_dir), None).eval()


def inputs(tok, texts=TEXTS):
    enc = tok(texts, padding=True, return_tensors="pt")
    pixels = torch.randn(3, 1, 3, 32, 32)
    return enc.input_ids, enc.attention_mask, pixels, torch.tensor([2, 1])


def set_gates(model, value: float) -> None:
    with torch.no_grad():
        for block in model.xattn_blocks():
            block.attn_gate.fill_(value)
            block.ff_gate.fill_(value)


def test_mask_lets_each_token_see_only_its_last_image():
    index = torch.tensor([[0, 1, 1, 2, 0]])
    mask = media_attention_mask(index, num_images=2, latents=3)[0, 0]
    assert mask.shape == (5, 6)
    assert mask[1].tolist() == [True] * 3 + [False] * 3
    assert mask[3].tolist() == [False] * 3 + [True] * 3
    # Rows without an image are opened (no NaN); the block discards their output.
    assert mask[0].all() and mask[4].all()


def test_cross_attention_output_depends_only_on_the_tokens_image():
    torch.manual_seed(0)
    attn = MaskedCrossAttention(dim=16, dim_visual=8, heads=2, dim_head=4)
    x = torch.randn(1, 4, 16)
    media = torch.randn(1, 2, 3, 8)
    index = torch.tensor([[1, 1, 2, 2]])
    base = attn(x, media, index)
    changed = media.clone()
    changed[:, 1] += 1.0
    out = attn(x, changed, index)
    assert torch.equal(out[:, :2], base[:, :2])
    assert not torch.allclose(out[:, 2:], base[:, 2:])


def test_gated_block_leaves_tokens_before_first_image_bit_identical():
    torch.manual_seed(0)
    block = GatedCrossAttentionBlock(dim=16, dim_visual=8, heads=2, dim_head=4, ff_mult=2)
    with torch.no_grad():
        block.attn_gate.fill_(0.7)
        block.ff_gate.fill_(-0.4)
    x = torch.randn(2, 5, 16)
    index = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]])
    out = block(x, torch.randn(2, 1, 3, 8), index)
    assert torch.isfinite(out).all()
    assert torch.equal(out[0, :2], x[0, :2])
    assert torch.equal(out[1], x[1])
    assert not torch.allclose(out[0, 2:], x[0, 2:])


def test_gated_block_at_init_is_identity():
    block = GatedCrossAttentionBlock(dim=16, dim_visual=8, heads=2, dim_head=4)
    x = torch.randn(1, 3, 16)
    out = block(x, torch.randn(1, 1, 2, 8), torch.tensor([[1, 1, 1]]))
    assert torch.equal(out, x)


@pytest.mark.parametrize("arch", ARCHS)
def test_gates_at_zero_give_frozen_lm_logits_exactly(lm_dirs, arch):
    model, tok, _ = build(lm_dirs[arch])
    ref = frozen_lm(lm_dirs[arch])
    ids, mask, pixels, counts = inputs(tok)
    with torch.no_grad():
        logits = model(ids, mask, pixels, counts).logits
        # The markers' rows exist only in the Flamingo vocabulary: feed the same embeddings.
        embeds = model.lm.get_input_embeddings()(ids)
        expected = ref(inputs_embeds=embeds, attention_mask=mask).logits
    vocab = expected.shape[-1]
    assert torch.equal(logits[..., :vocab], expected)
    plain = tok(["the cat sat on the mat."], return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(plain).logits[..., :vocab], ref(plain).logits)


@pytest.mark.parametrize("arch", ARCHS)
def test_text_before_first_image_matches_frozen_lm_with_open_gates(lm_dirs, arch):
    model, tok, _ = build(lm_dirs[arch])
    set_gates(model, 0.5)
    ref = frozen_lm(lm_dirs[arch])
    ids, mask, pixels, counts = inputs(tok)
    with torch.no_grad():
        logits = model(ids, mask, pixels, counts).logits
        expected = ref(
            inputs_embeds=model.lm.get_input_embeddings()(ids), attention_mask=mask
        ).logits
    vocab = expected.shape[-1]
    first_image = int((ids[0] == model.ids.image).nonzero()[0])
    assert torch.isfinite(logits).all()
    assert torch.equal(logits[0, :first_image, :vocab], expected[0, :first_image])
    assert not torch.allclose(logits[0, first_image:, :vocab], expected[0, first_image:])


def test_images_change_only_the_text_after_them(lm_dirs):
    model, tok, _ = build(lm_dirs["gpt2"])
    set_gates(model, 1.0)
    ids, mask, pixels, counts = inputs(tok)
    with torch.no_grad():
        base = model(ids, mask, pixels, counts).logits
        other = pixels.clone()
        other[1] = torch.randn_like(other[1])  # the second image of the first sample
        out = model(ids, mask, other, counts).logits
    second = int((ids[0] == model.ids.image).nonzero()[1])
    assert torch.equal(out[0, :second], base[0, :second])
    assert not torch.allclose(out[0, second:], base[0, second:])
    assert torch.equal(out[1], base[1])


@pytest.mark.parametrize("arch", ARCHS)
def test_only_trainable_parameters_change_after_a_step(lm_dirs, arch):
    model, tok, _ = build(lm_dirs[arch])
    trainable = trainable_parameters(model)
    assert trainable and all(
        "resampler" in n or ".xattn." in n or n.endswith("new_weight") for n in trainable
    )
    frozen_before = {
        n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad
    }
    trainable_before = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.AdamW(trainable.values(), lr=1e-2)
    ids, mask, pixels, counts = inputs(tok)
    set_gates(model, 0.1)  # at exactly 0 the resampler would get no gradient yet
    logits = model(ids, mask, pixels, counts).logits
    loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert all(p.grad.abs().sum() > 0 for n, p in trainable.items() if "latents" not in n)
    opt.step()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, trainable_before[name]), name
        else:
            assert torch.equal(p, frozen_before[name]), name


def test_padding_images_are_not_encoded_and_slots_are_zero(lm_dirs):
    model, _, _ = build(lm_dirs["gpt2"])
    seen = []
    model.vision.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    media = model.encode_media(torch.randn(3, 1, 3, 32, 32), torch.tensor([2, 0, 1]))
    assert seen == [3]
    assert media.shape == (3, 2, TINY_FLAMINGO["num_latents"], 32)
    assert media[1].abs().sum() == 0 and media[2, 1].abs().sum() == 0
    assert media[0, 1].abs().sum() > 0


def test_text_only_batch_keeps_resampler_in_the_graph(lm_dirs):
    model, tok, _ = build(lm_dirs["gpt2"])
    ids = tok(["no pictures here at all"], return_tensors="pt").input_ids
    logits = model(ids).logits
    logits.sum().backward()
    assert all(p.grad is not None for p in model.resampler.parameters())


def test_video_frames_go_through_with_interpolated_time_embeddings():
    torch.manual_seed(0)
    resampler = PerceiverResampler(dim=8, depth=1, heads=2, dim_head=4, num_latents=3, max_frames=4)
    emb = resampler.frame_embeddings(7)
    assert emb.shape == (7, 8)
    assert torch.allclose(emb[0], resampler.time_embeddings[0])
    assert torch.allclose(emb[-1], resampler.time_embeddings[-1])
    out = resampler(torch.randn(2, 7, 5, 8))
    assert out.shape == (2, 3, 8) and torch.isfinite(out).all()
    # Frame order matters: time embeddings tell frames apart.
    x = torch.randn(1, 2, 5, 8)
    assert not torch.allclose(resampler(x), resampler(x.flip(1)))


@pytest.mark.parametrize(
    ("arch", "path"),
    [("gpt2", "transformer.h"), ("llama", "model.layers"), ("opt", "model.decoder.layers")],
)
def test_decoder_layers_found_generically(lm_dirs, arch, path):
    lm = frozen_lm(lm_dirs[arch])
    assert find_decoder_layers(lm) is lm.get_submodule(path)


def test_cross_attn_every_places_blocks_and_rejects_too_large(lm_dirs):
    model, _, _ = build(lm_dirs["gpt2"], cross_attn_every=2)
    assert model.xattn_layer_ids == [1] and len(model.xattn_blocks()) == 1
    with pytest.raises(ModelError) as err:
        build(lm_dirs["gpt2"], cross_attn_every=3)
    assert err.value.reason == "cross_attn_every_too_large"


def test_lm_built_from_config_dict_with_byte_tokenizer():
    from tests.fixtures.trainer_data import TINY_LM

    cfg = ModelConfig(lm_config=TINY_LM["llama"], tokenizer="byte", **TINY_FLAMINGO)
    model, tok, _ = build_flamingo(cfg)
    # vocab_size follows the tokenizer: 256 bytes + EOS; the markers get appended rows.
    assert model.lm.get_input_embeddings().weight.shape[0] == 257
    ids = tok(["<image>hi<|endofchunk|>"], return_tensors="pt").input_ids
    out = model(ids, pixels=torch.randn(1, 1, 3, 32, 32), num_media=torch.tensor([1]))
    assert out.logits.shape == (1, ids.shape[1], len(tok))


def test_tokenizer_larger_than_the_lm_is_refused():
    from tests.fixtures.trainer_data import TINY_LM

    small = {**TINY_LM["llama"], "vocab_size": 200}
    with pytest.raises(ModelError) as err:
        build_flamingo(ModelConfig(lm_config=small, tokenizer="byte", **TINY_FLAMINGO))
    assert err.value.reason == "tokenizer_lm_mismatch" and "257" in err.value.detail


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_at_loss_positions_only_give_the_same_loss(lm_dirs, arch):
    from trainer.loss import lm_loss, loss_positions

    model, tok, _ = build(lm_dirs[arch])
    set_gates(model, 1.0)
    ids, mask, pixels, counts = inputs(tok)
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :3] = -100  # no loss on the first tokens of every row
    keep = loss_positions(labels)
    assert 0 < len(keep) < ids.shape[1]
    with torch.no_grad():
        full = model(ids, mask, pixels, counts).logits
        kept = model(ids, mask, pixels, counts, logits_to_keep=keep).logits
    assert kept.shape[1] == len(keep)
    torch.testing.assert_close(kept, full[:, keep])
    torch.testing.assert_close(lm_loss(kept, labels, keep), lm_loss(full, labels))


def loss_and_grads(model, loss):
    params = trainable_parameters(model)
    grads = torch.autograd.grad(loss, list(params.values()))
    return loss.detach(), dict(zip(params, grads, strict=True))


def assert_same_loss_through_labels(model, ids, mask, pixels, counts, labels):
    """forward(labels=) (fused or plain path) == lm_loss of the full logits, gradients too."""
    from trainer.loss import lm_loss

    loss, grads = loss_and_grads(model, model(ids, mask, pixels, counts, labels=labels).loss)
    ref_loss, ref_grads = loss_and_grads(
        model, lm_loss(model(ids, mask, pixels, counts).logits, labels)
    )
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # The marker rows (tied or own) learn through the head: <|endofchunk|> is a target.
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.endswith("new_weight"))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("fused", [True, False])
def test_loss_from_labels_matches_the_logits_loss_fused_or_not(lm_dirs, arch, fused):
    model, tok, _ = build(lm_dirs[arch])
    assert model.fused_loss  # gpt2, llama and opt heads are plain projections
    model.fused_loss = fused
    set_gates(model, 0.5)
    ids, mask, pixels, counts = inputs(tok)
    labels = ids.masked_fill((mask == 0) | (ids == model.ids.image), -100)
    labels[:, :2] = -100
    assert_same_loss_through_labels(model, ids, mask, pixels, counts, labels)
    out = model(ids, mask, pixels, counts, labels=torch.full_like(ids, -100))
    assert out.logits is None and out.loss.item() == 0 and out.loss.requires_grad


def test_fused_loss_with_marker_ids_inside_a_padded_vocabulary():
    from tests.fixtures.trainer_data import TINY_LM

    padded = {**TINY_LM["llama"], "vocab_size": 300}  # tokenizer: 257 ids, markers inside
    torch.manual_seed(0)
    model, tok, _ = build_flamingo(ModelConfig(lm_config=padded, tokenizer="byte", **TINY_FLAMINGO))
    head = model.lm.get_output_embeddings()
    assert model.fused_loss and not head.append
    set_gates(model, 0.5)
    texts = ["ab<image>a cat.<|endofchunk|>", "<image>dog<|endofchunk|>zz"]
    ids = tok(texts, padding=True, return_tensors="pt")
    no_loss = (ids.input_ids == model.ids.image) | (ids.attention_mask == 0)
    labels = ids.input_ids.masked_fill(no_loss, -100)
    pixels = torch.randn(2, 1, 3, 32, 32)
    counts = torch.tensor([1, 1])
    assert_same_loss_through_labels(
        model, ids.input_ids, ids.attention_mask, pixels, counts, labels
    )


def test_only_known_plain_heads_take_the_fused_loss():
    from types import SimpleNamespace

    from trainer.model.lm import logits_are_plain_head

    class Fake(nn.Module):
        def __init__(self, model_type, wrapped=True):
            super().__init__()
            self.config = SimpleNamespace(model_type=model_type)
            self.body = nn.Identity() if wrapped else None

        @property
        def base_model(self):
            return self.body if self.body is not None else self

    assert logits_are_plain_head(Fake("llama"))
    assert not logits_are_plain_head(Fake("cohere"))  # logits * logit_scale
    assert not logits_are_plain_head(Fake("llama", wrapped=False))  # no separate body
