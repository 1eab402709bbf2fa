"""Shared fixtures. Tests never touch the network: hub look-ups fail fast offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

# A recipe small enough to build in seconds: same code path as the real tiny model.
MINI_RECIPE = {
    "version": 1, "seed": 7, "vocab_size": 400, "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 128,
    "max_position_embeddings": 512, "corpus": {"arithmetic": 300, "instruct": 100},
    "seq_len": 64, "batch_size": 8, "steps": 3, "learning_rate": 3e-3, "warmup_steps": 1,
}


@pytest.fixture(scope="session")
def mini_model(tmp_path_factory):
    """Path of a mini tiny-model built once per test session."""
    from rlkit import tiny

    return tiny.build(MINI_RECIPE, tmp_path_factory.mktemp("mini") / "model", verbose=False)


@pytest.fixture
def offline_empty_cache(monkeypatch, tmp_path):
    """Offline mode with empty caches, so no earlier download can answer."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
