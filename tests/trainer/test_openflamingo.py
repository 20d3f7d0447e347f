"""--init-from: OpenFlamingo names map onto ours; shapes must match."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.trainer_data import TINY_FLAMINGO
from trainer.config import ModelConfig
from trainer.errors import CheckpointError
from trainer.model import build_flamingo
from trainer.openflamingo import init_from_openflamingo


def build(lm_dir, **over):
    torch.manual_seed(0)
    return build_flamingo(ModelConfig(lm_path=str(lm_dir), **{**TINY_FLAMINGO, **over}))[0]


def openflamingo_state(model, vocab_rows: int) -> dict[str, torch.Tensor]:
    """A checkpoint spelled the way OpenFlamingo names its modules, with random values."""
    g = torch.Generator().manual_seed(1)
    rnd = lambda t: torch.randn(t.shape, generator=g)  # noqa: E731
    res = model.resampler
    state = {
        "perceiver.latents": rnd(res.latents),
        "perceiver.frame_embs": rnd(res.time_embeddings),
    }
    for i, layer in enumerate(res.layers):
        for name, p in layer.attn.named_parameters():
            state[f"perceiver.layers.{i}.0.{name}"] = rnd(p)
        for name, p in layer.ff.named_parameters():
            state[f"perceiver.layers.{i}.1.{name}"] = rnd(p)
    for name, p in res.norm.named_parameters():
        state[f"perceiver.norm.{name}"] = rnd(p)
    for j, layer in enumerate(model.decoder_layers):
        if layer.xattn is not None:
            for name, p in layer.xattn.named_parameters():
                state[f"lang_encoder.gated_cross_attn_layers.{j}.{name}"] = rnd(p)
                state[f"lang_encoder.model.layers.{j}.gated_cross_attn_layer.{name}"] = rnd(p)
    dim = model.lm.get_input_embeddings().weight.shape[1]
    state["lang_encoder.model.embed_tokens.weight"] = torch.randn(vocab_rows, dim, generator=g)
    state["perceiver.media_time_embs"] = torch.randn(4, 1, 32, generator=g)
    return state


def test_openflamingo_checkpoint_is_mapped_onto_our_names(tmp_path, lm_dirs):
    model = build(lm_dirs["llama"])
    state = openflamingo_state(model, vocab_rows=323)
    torch.save(
        {"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "of.pt"
    )
    report = init_from_openflamingo(model, tmp_path / "of.pt")
    assert torch.equal(model.resampler.latents, state["perceiver.latents"])
    assert torch.equal(
        model.resampler.layers[0].ff[3].weight, state["perceiver.layers.0.1.3.weight"]
    )
    block = model.decoder_layers[1].xattn
    assert torch.equal(
        block.attn.to_kv.weight, state["lang_encoder.gated_cross_attn_layers.1.attn.to_kv.weight"]
    )
    emb = model.lm.get_input_embeddings()
    rows = state["lang_encoder.model.embed_tokens.weight"][emb.new_ids]
    assert torch.equal(emb.new_weight, rows)
    # Llama's untied output rows have no OpenFlamingo counterpart and keep their init.
    assert report.kept == ("lm.lm_head.new_weight",)
    assert "perceiver.media_time_embs" in report.ignored


def test_shape_mismatch_is_refused(tmp_path, lm_dirs):
    model = build(lm_dirs["llama"])
    state = openflamingo_state(model, vocab_rows=323)
    state["perceiver.latents"] = torch.zeros(7, 32)
    torch.save(state, tmp_path / "of.pt")
    with pytest.raises(CheckpointError) as err:
        init_from_openflamingo(model, tmp_path / "of.pt")
    assert err.value.reason == "shape_mismatch" and "resampler.latents" in err.value.detail


def test_layout_mismatch_is_refused(tmp_path, lm_dirs):
    state = openflamingo_state(build(lm_dirs["llama"]), vocab_rows=323)
    torch.save(state, tmp_path / "of.pt")
    sparse = build(lm_dirs["llama"], cross_attn_every=2)  # no block before layer 0
    with pytest.raises(CheckpointError) as err:
        init_from_openflamingo(sparse, tmp_path / "of.pt")
    assert err.value.reason == "layout_mismatch"


def test_real_openflamingo_module_names_map(tmp_path, lm_dirs):
    # open-flamingo is installed --no-deps by scripts/setup.sh (its pins predate transformers 5).
    import open_clip
    from open_flamingo.src import flamingo as of
    from open_flamingo.src.flamingo_lm import FlamingoLMMixin
    from open_flamingo.src.utils import extend_instance
    from transformers import AutoModelForCausalLM

    ours = build(lm_dirs["llama"], num_latents=64, resampler_depth=6, resampler_heads=8,
                 resampler_dim_head=64, xattn_heads=8, xattn_dim_head=64, ff_mult=4)  # fmt: skip
    lm = AutoModelForCausalLM.from_pretrained(lm_dirs["llama"])
    extend_instance(lm, FlamingoLMMixin)
    lm.set_decoder_layers_attr_name("model.layers")
    lm.resize_token_embeddings(322)
    clip = open_clip.create_model(
        "ViT-S-32", pretrained=None, vision_cfg=TINY_FLAMINGO["vision_cfg"]
    )
    clip.visual.output_tokens = True
    model = of.Flamingo(clip, lm, 320, 321, vis_dim=32)
    trainable = {k: v for k, v in model.state_dict().items() if not k.startswith("vision_encoder")}
    torch.save(trainable, tmp_path / "of.pt")
    report = init_from_openflamingo(ours, tmp_path / "of.pt")
    assert "resampler.time_embeddings" in report.kept and len(report.loaded) > 20
