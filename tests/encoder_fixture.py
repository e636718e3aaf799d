"""A tiny random BERT-like keras-hub backbone saved as a Keras preset: the encoder family's tests need no download.

Two layers, 16 dimensions, a vocabulary of the synthetic data's words plus BERT's special tokens,
saved with keras-hub's own `save_to_preset` (backbone and WordPiece tokenizer), as `make encoder`
saves the real MiniLM.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_preset(folder: Path, words: list[str], seed: int = 0, hidden: int = 16) -> Path:
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    vocab = SPECIAL + sorted({w.lower() for w in words} - set(SPECIAL))
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab),
        num_layers=2,
        num_heads=2,
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
        max_sequence_length=64,
    )
    backbone.save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True).save_to_preset(str(folder))
    return folder


def synthetic_words() -> list[str]:
    """Every word of the embedded data set's generator (probsweep.data.synthetic), a few hundred."""
    from probsweep.config import SyntheticConfig
    from probsweep.data import synthetic

    frame, _ = synthetic.generate(SyntheticConfig(n_classes=6, n_groups=2), 16, 42)
    return sorted({w for t in frame.text for w in t.split()})
