"""Which preset, what it is, and loading its backbone and tokenizer.

A preset is one of:
- a local folder in keras-hub's own layout (`save_to_preset`: config.json with `registered_name`,
  model.weights.h5, assets/tokenizer/vocabulary.txt);
- a local Hugging Face-layout folder (config.json with `model_type`, model.safetensors, tokenizer.json
  or vocab.txt), which keras-hub converts when it loads it (what `make encoder` leaves in models/);
- a remote handle (a keras-hub preset name, `kaggle://...`, `hf://org/model`): keras-hub downloads it
  then, and only then. Nothing else here touches the network.

Tokenising uses the `tokenizers` library (Rust, a dependency of keras-hub itself) rather than
keras-hub's BertTokenizer, which needs tensorflow-text, and tensorflow-text pulls a second full
TensorFlow beside tensorflow-cpu (docs/encoder.md, "Dependencies").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probsweep.config import ConfigError

REMOTE_SCHEMES = ("hf://", "kaggle://", "gs://", "modelscope://")
KERAS_VOCAB = "assets/tokenizer/vocabulary.txt"  # where keras-hub's save_to_preset puts a WordPiece vocabulary
INSTALL_HINT = "run `make encoder` (it prints the local preset path) or give a folder with config.json"


def keras_hub_available() -> bool:
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        return False
    return True


def require_keras_hub() -> None:
    if not keras_hub_available():
        raise ConfigError(
            "model.encoder.preset needs keras-hub, which is not installed: run `make encoder` "
            "(it installs keras-hub, pinned, without tensorflow-text)"
        )


def is_remote(preset: str) -> bool:
    """A handle keras-hub downloads: a scheme, or a bare preset name (no path separator, not a folder here)."""
    if preset.startswith(REMOTE_SCHEMES):
        return True
    return "/" not in preset and not preset.startswith((".", "~")) and not Path(preset).exists()


@dataclass(frozen=True)
class Preset:
    """A checked preset: where it is, its layout, and an identity that changes when its weights do."""

    handle: str  # as given (a local path made absolute)
    layout: str  # keras | hf | remote
    identity: str  # sha256 over the config and the weights' own hash (local); the handle (remote)

    @property
    def local(self) -> bool:
        return self.layout != "remote"


def check_preset(preset: str) -> Preset:
    """The preset named by model.encoder.preset, checked before any heavy import: ConfigError naming the
    fix for a folder that is missing or is not a preset."""
    preset = str(preset)
    if is_remote(preset):
        return Preset(preset, "remote", hashlib.sha256(preset.encode()).hexdigest())
    folder = Path(os.path.expanduser(preset)).resolve()
    if not folder.is_dir():
        raise ConfigError(f"model.encoder.preset={preset}: no such folder; {INSTALL_HINT}")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"model.encoder.preset={preset}: {config_file} is missing; {INSTALL_HINT}")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.encoder.preset={preset}: {config_file} is not JSON ({exc})") from None
    if "registered_name" in config:
        layout, weights = "keras", [folder / "model.weights.h5"]
        tokenizer = [folder / KERAS_VOCAB]
    elif "model_type" in config:
        layout, weights = "hf", [folder / "model.safetensors"]
        tokenizer = [folder / "tokenizer.json", folder / "vocab.txt"]
    else:
        raise ConfigError(
            f"model.encoder.preset={preset}: {config_file} is neither a keras-hub preset (registered_name) "
            "nor a Hugging Face config (model_type)"
        )
    missing = [str(w) for w in weights if not w.is_file()]
    if missing:
        raise ConfigError(f"model.encoder.preset={preset}: {missing[0]} is missing; {INSTALL_HINT}")
    if not any(t.is_file() for t in tokenizer):
        raise ConfigError(
            f"model.encoder.preset={preset}: no tokenizer ({' or '.join(str(t) for t in tokenizer)}); {INSTALL_HINT}"
        )
    digest = hashlib.sha256(config_file.read_bytes())
    for w in weights:
        digest.update(file_sha256(str(w), w.stat().st_size, w.stat().st_mtime_ns).encode())
    return Preset(str(folder), layout, digest.hexdigest())


@functools.lru_cache(maxsize=8)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, once per process for a given size and modification time (~0.3 s for 90 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_backbone(preset: Preset) -> Any:
    """The keras-hub backbone (BertBackbone for MiniLM), from a Keras or a Hugging Face layout, or remote."""
    require_keras_hub()
    import keras_hub

    return keras_hub.models.Backbone.from_preset(preset.handle)


def _file(preset: Preset, name: str) -> str | None:
    """A preset file's local path (downloaded first for a remote preset), or None if it has none."""
    if preset.local:
        path = Path(preset.handle) / name
        return str(path) if path.is_file() else None
    from keras_hub.src.utils.preset_utils import get_file

    try:
        return str(get_file(preset.handle, name))
    except FileNotFoundError:
        return None


def lowercase(preset: Preset) -> bool:
    """Whether the vocabulary is uncased: from keras-hub's tokenizer config, or the Hugging Face one."""
    for name, key in (("tokenizer.json", "lowercase"), ("tokenizer_config.json", "do_lower_case")):
        path = _file(preset, name)
        if path is None:
            continue
        try:
            data = json.loads(Path(path).read_text())
        except ValueError:
            continue
        config = data.get("config", data) if isinstance(data, dict) else {}
        if key in config:
            return bool(config[key])
    return True


def max_positions(preset: Preset) -> int:
    """The longest token sequence the backbone has position embeddings for (512 for BERT and MiniLM)."""
    path = _file(preset, "config.json")
    config = json.loads(Path(path).read_text()) if path else {}
    inner = config.get("config", config)
    return int(inner.get("max_sequence_length") or inner.get("max_position_embeddings") or 512)


def load_tokenizer(preset: Preset, sequence_length: int) -> Any:
    """A `tokenizers.Tokenizer` that adds [CLS]/[SEP], truncates to `sequence_length` and pads to the
    longest text of each batch: from a Hugging Face tokenizer.json, else from a WordPiece vocabulary."""
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer

    hf_json = _file(preset, "tokenizer.json") if preset.layout != "keras" else None
    tokenizer: Any = None
    if hf_json is not None:
        data = json.loads(Path(hf_json).read_text())
        if "model" in data:  # a Hugging Face tokenizer file (keras-hub's tokenizer.json is a Keras config)
            tokenizer = Tokenizer.from_file(hf_json)
    if tokenizer is None:
        vocab = _file(preset, KERAS_VOCAB) or _file(preset, "vocab.txt")
        if vocab is None:
            raise ConfigError(f"model.encoder.preset={preset.handle}: no tokenizer vocabulary found; {INSTALL_HINT}")
        tokenizer = BertWordPieceTokenizer(vocab, lowercase=lowercase(preset))
    tokenizer.enable_truncation(max_length=min(int(sequence_length), max_positions(preset)))
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tokenizer
