"""The `encoder` family: what it reads (cached features, or token ids to fine-tune), its body, its
optimiser's learning rate, and the served model that takes raw strings.

Frozen (model.encoder.trainable=false, the default): the data stage computes the pooled features of
every text once (features.py, cached on disk) and the body is only what sits between them and the
head. Fine-tuned: the data stage tokenises, and the body runs the backbone, trained at
model.encoder.learning_rate with a linear warm-up over model.encoder.warmup of the steps.

Plain Keras and NumPy: nothing here imports MLflow or Keras Tuner.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from probsweep.config import ConfigError
from probsweep.encoder.preset import Preset, check_preset, load_backbone, load_tokenizer

FAMILY = "encoder"
TARGET = "probsweep.encoder.family.encoder_body"
NO_PRESET = (
    "model.encoder.preset is not set: the encoder family needs a preset; run `make encoder` and pass "
    "model.encoder.preset=<the path it prints> (or a keras-hub preset name / hf:// handle, which downloads)"
)
SERVE_BATCH = 256


def preset_of(encoder_cfg: Any) -> Preset:
    if not encoder_cfg.preset:
        raise ConfigError(NO_PRESET)
    return check_preset(str(encoder_cfg.preset))


def check_encoder_config(encoder_cfg: Any) -> None:
    """The encoder's keys before anything heavy: a preset is named, and a local one is a preset."""
    preset = encoder_cfg.preset
    if not preset:
        raise ConfigError(NO_PRESET)
    from probsweep.encoder.preset import is_remote

    if not is_remote(str(preset)):
        folder = Path(str(preset)).expanduser()
        if not (folder / "config.json").is_file():
            problem = "no config.json in it" if folder.is_dir() else "no such folder"
            raise ConfigError(
                f"model.encoder.preset={preset}: {problem}; "
                "run `make encoder` (it prints the local preset path) or give a folder with config.json"
            )


def split_texts(data: Any) -> tuple[list[str], list[str], list[str]]:
    """The train, val and test texts, in the order of data.y_train, y_val and y_test."""
    frame = data.frame
    return tuple(frame.text[frame.split == s].astype(str).tolist() for s in ("train", "val", "test"))


def token_ids(tokenizer: Any, texts: Sequence[str], length: int, pad_id: int) -> np.ndarray:
    """(len(texts), length) int32 WordPiece ids, [CLS] ... [SEP], padded with pad_id, cut at `length`."""
    out = np.full((len(texts), length), pad_id, np.int32)
    for i, enc in enumerate(tokenizer.encode_batch(list(texts)) if len(texts) else []):
        ids = enc.ids[:length]
        out[i, : len(ids)] = ids
    return out


@dataclass
class EncoderInput:
    """What the data stage gives the encoder family (probsweep.data.features.Features' fields)."""

    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    featurizer: EncoderFeaturizer
    arguments: dict[str, Any]
    report: dict[str, Any]


def encoder_input(data: Any, model_cfg: Any, progress: Any = None) -> EncoderInput:
    """Frozen: the cached pooled features of every split. Fine-tuned: token ids, padded to the longest
    training text (at most model.encoder.sequence_length), for the backbone to read."""
    enc = model_cfg.encoder
    preset = preset_of(enc)
    train, val, test = split_texts(data)
    report: dict[str, Any] = {
        "preset": preset.handle,
        "preset_identity": preset.identity[:16],
        "trainable": enc.trainable,
    }
    if enc.trainable:
        tokenizer = load_tokenizer(preset, enc.sequence_length)
        tokenizer.no_padding()
        from probsweep.encoder.features import pad_id as find_pad

        pad = find_pad(tokenizer)
        longest = max((len(e.ids) for e in tokenizer.encode_batch(train)), default=2)
        length = min(int(enc.sequence_length), -(-longest // 8) * 8)
        x = [token_ids(tokenizer, t, length, pad) for t in (train, val, test)]
        report.update(sequence_length=length, longest_train_text=longest)
        arguments = {"n_classes": data.n_classes, "dim": None, "max_len": length, "pad_id": pad}
    else:
        from probsweep.encoder.features import cached_features

        everything = train + val + test
        features, info = cached_features(everything, preset, int(enc.sequence_length), enc.cache_dir, progress)
        a, b = len(train), len(train) + len(val)
        x = [features[:a], features[a:b], features[b:]]
        report.update(
            dim=int(features.shape[1]),
            cache=info["path"],
            cache_hit=info["hit"],
            seconds=info["seconds"],
            texts_per_s=info["texts_per_s"],
        )
        print(
            f"encoder features: {'read from' if info['hit'] else 'computed and saved to'} {info['path']}"
            + ("" if info["hit"] else f" ({info['texts_per_s']:.0f} texts/s)"),
            file=sys.stderr,
            flush=True,
        )
        arguments = {"n_classes": data.n_classes, "dim": int(features.shape[1]), "max_len": None, "pad_id": 0}
    featurizer = EncoderFeaturizer(preset, int(enc.sequence_length), bool(enc.trainable))
    return EncoderInput(x[0], x[1], x[2], featurizer, arguments, report)


def encoder_body(
    n_classes: int,
    dim: int | None,
    max_len: int | None,
    pad_id: int,
    *,
    dropout: float,
    preset: str | None,
    trainable: bool,
    normalize: bool,
    hidden: int,
    **_: Any,
) -> Any:
    """The encoder family's body: frozen, from the cached features (batch, dim); fine-tuned, from token
    ids (batch, max_len) through the backbone. Mean pooling, optional L2 norm, dropout, optional hidden."""
    from probsweep.encoder.body import frozen_body, trainable_body

    if not trainable:
        assert dim is not None, "the frozen encoder reads features of a known dimension"
        return frozen_body(dim, normalize, dropout, hidden)
    if not preset:
        raise ConfigError(NO_PRESET)
    assert max_len is not None, "the fine-tuned encoder reads token ids of a fixed length"
    backbone = load_backbone(check_preset(preset))
    return trainable_body(backbone, pad_id, max_len, normalize, dropout, hidden)


def learning_rate(model_cfg: Any, base: float, total_steps: int) -> Any:
    """The optimiser's learning rate: `base` (train.learning_rate) for every body but the fine-tuned
    encoder, which warms up linearly to model.encoder.learning_rate over model.encoder.warmup of the
    steps, then decays along a cosine (BERT's recipe: a large step on pretrained weights undoes them)."""
    enc = getattr(model_cfg, "encoder", None)
    if enc is None or not enc.trainable or str(model_cfg._target_).rsplit(".", 1)[-1] != "encoder_body":
        return base
    import keras

    warmup = int(round(float(enc.warmup) * total_steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else float(enc.learning_rate),
        decay_steps=max(1, total_steps - warmup),
        warmup_target=float(enc.learning_rate) if warmup else None,
        warmup_steps=warmup,
        alpha=0.0,
    )


@dataclass
class EncoderFeaturizer:
    """How the served model makes the body's input from raw strings: it carries the preset's place and
    identity, and builds the served model (tokenizer + backbone + pooling + the trained layers)."""

    preset: Preset
    sequence_length: int
    trainable: bool
    served_kind = "encoder"  # probs.serving.CalibratedClassifier.kind

    def text_model(self, model: Any) -> EncoderTextModel:
        """The served model: strings -> WordPiece ids -> (frozen: backbone + pooling ->) `model`."""
        import keras

        from probsweep.encoder.body import pooled_encoder

        tokenizer = load_tokenizer(self.preset, self.sequence_length)
        tokenizer.no_padding()
        from probsweep.encoder.features import pad_id as find_pad

        pad = find_pad(tokenizer)
        inference = keras.Model(model.inputs, model.outputs, name="classifier")  # no compile state
        if self.trainable:
            served = inference
        else:
            encoder = pooled_encoder(load_backbone(self.preset), pad_id=pad)
            tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
            served = keras.Model(tokens, inference(encoder(tokens)), name="encoder_text_classifier")
        length = int(model.inputs[0].shape[1]) if self.trainable else self.sequence_length
        return EncoderTextModel(served, tokenizer, length, pad, fixed=self.trainable, preset=self.preset.handle)


class EncoderTextModel:
    """Raw strings -> the head's outputs, with the encoder inside: the Keras model (backbone included, so
    the served model does not depend on models/ being there) and the tokenizer, saved side by side."""

    MODEL, TOKENIZER, META = "model.keras", "tokenizer.json", "encoder.json"

    def __init__(self, model: Any, tokenizer: Any, length: int, pad_id: int, fixed: bool, preset: str):
        self.model, self.tokenizer, self.length, self.pad_id, self.fixed = model, tokenizer, length, pad_id, fixed
        self.preset = preset

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        outputs = []
        for start in range(0, len(texts), SERVE_BATCH):
            chunk = texts[start : start + SERVE_BATCH]
            if self.fixed:  # the fine-tuned model was built for one length
                width = self.length
            else:
                width = max(min(len(e.ids), self.length) for e in self.tokenizer.encode_batch(chunk))
            x = token_ids(self.tokenizer, chunk, width, self.pad_id)
            outputs.append(np.asarray(self.model.predict(x, batch_size=len(chunk), verbose=0)))
        if not outputs:
            return np.zeros((0, int(self.model.outputs[0].shape[-1])), np.float32)
        return np.concatenate(outputs)

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / self.MODEL)
        self.tokenizer.save(str(folder / self.TOKENIZER))
        meta = {"length": self.length, "pad_id": self.pad_id, "fixed": self.fixed, "preset": self.preset}
        (folder / self.META).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: Path) -> EncoderTextModel:
        from probsweep.encoder.preset import require_keras_hub

        require_keras_hub()
        import keras
        import keras_hub  # noqa: F401  (registers the backbone's classes for deserialisation)
        from tokenizers import Tokenizer

        import probsweep.encoder.body  # noqa: F401  (registers the pooling layers)

        folder = Path(folder)
        meta = json.loads((folder / cls.META).read_text())
        model = keras.saving.load_model(folder / cls.MODEL, compile=False)
        tokenizer = Tokenizer.from_file(str(folder / cls.TOKENIZER))
        tokenizer.no_padding()
        return cls(model, tokenizer, meta["length"], meta["pad_id"], meta["fixed"], meta["preset"])


# The family's place in the data stage (probsweep.data.features): its input kind and its builder.
from probsweep.data.features import Features, featurizer, reads  # noqa: E402


def _feature_keys(model_cfg: Any) -> tuple:
    enc = model_cfg.encoder
    return (str(enc.preset), int(enc.sequence_length), bool(enc.trainable), enc.cache_dir)


@featurizer(FAMILY, arguments=("n_classes", "dim", "max_len", "pad_id"), config_keys=_feature_keys)
def encoder_features(data: Any, model_cfg: Any) -> Features:
    """The encoder family's input, made once per data set and preset (and cached on disk when frozen)."""
    made = encoder_input(data, model_cfg)
    return Features(FAMILY, made.x_train, made.x_val, made.x_test, made.featurizer, made.arguments, made.report)


encoder_body = reads(FAMILY)(encoder_body)
