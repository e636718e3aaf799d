"""The "intents" profile of the generated data: an offline stand-in for a user's intent-classification data.

Shaped like the public intent benchmarks users bring (150 intents in 10 domains, 50 short training
queries each, out-of-scope queries in validation and test), because that is where the seed's
recipe fails: with no pretrained vectors, a frozen random embedding leaves the network to learn
from noise, while a trainable embedding (or a linear model on word counts) does well. So:

* queries are short (3-15 tokens, about 8 on average) and carry few cues: one or two words of
  their intent, drawn Zipf-wise from a dozen paraphrases, so the rare ones are seen a handful of
  times in training or never (out-of-vocabulary at test time);
* the vocabulary is skewed and shared: common function words (Zipf) make up most of every query,
  whatever its intent; domain words are shared by the 15 intents of a domain; slot words (names,
  places, numbers) are a long tail of rare words any intent may use;
* intents of one domain are confusable: some queries borrow a sibling intent's words, and some are
  vague, speaking as much of a sibling as of their own intent; that sets the accuracy ceiling;
* out-of-scope queries are near misses: function, domain and slot words, a stray intent word now
  and then, and words that never occur in training.

No word vectors: `generate` returns None for them. Same seed, same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probsweep.config import SPLITS, SyntheticConfig

OOS_LABEL = "oos"


def shuffled_frame(rows, labels, names, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """text/label/split rows (label -1 is out of scope) in one seeded random order, and that order."""
    frame = pd.DataFrame(
        {
            "text": [" ".join(t) for t, _, _ in rows],
            "label": [names[c] if c >= 0 else OOS_LABEL for c in labels],
            "split": [s for _, _, s in rows],
        }
    )
    order = rng.permutation(len(frame))
    return frame.iloc[order].reset_index(drop=True), order


# Vocabulary roles, as shares of vocab_words (6,000 -> 12 words per intent, 60 per domain, 480 function words,
# 2,100 slot words and 420 out-of-scope words).
INTENT_SHARE, DOMAIN_SHARE, FUNCTION_SHARE, OOS_SHARE = 0.30, 0.10, 0.08, 0.07  # the rest: slot words
# Token mix of a query, after its first token (always an intent word): own intent, a sibling's, domain,
# slot; the rest are function words. Tuned (benchmarks/real_data.py --baselines) so that a linear TF-IDF
# model and a trainable embedding reach about 90%, and the seed's frozen random embedding about 30%.
OWN, SIBLING, DOMAIN, SLOT = 0.20, 0.03, 0.12, 0.10
BORROW = 0.06  # share of queries whose first intent word comes from a sibling intent
VAGUE = 0.03  # share of queries whose intent words all come from one sibling, but one
OOS_MIX = (0.35, 0.10, 0.20, 0.32, 0.03)  # out-of-scope: function, domain, slot, unseen words, a stray intent word
ZIPF = 1.1  # word frequencies within a role fall off as 1 / rank**ZIPF
MEAN_LEN = 8.0


def generate(cfg: SyntheticConfig, seed: int, words) -> tuple[pd.DataFrame, None]:
    """Columns text, label, split; `words(n, rng, taken)` makes `n` new pseudo-words."""
    if cfg.n_classes < 2 or not 1 <= cfg.n_groups <= cfg.n_classes:
        raise ValueError(f"need 2 <= n_classes and 1 <= n_groups <= n_classes (got {cfg.n_classes}, {cfg.n_groups})")
    if not 1 <= cfg.min_len <= cfg.max_len:
        raise ValueError(f"need 1 <= min_len <= max_len (got {cfg.min_len}, {cfg.max_len})")
    per_intent = max(2, int(cfg.vocab_words * INTENT_SHARE) // cfg.n_classes)
    per_domain = max(2, int(cfg.vocab_words * DOMAIN_SHARE) // cfg.n_groups)
    n_function, n_oos = (max(10, int(cfg.vocab_words * s)) for s in (FUNCTION_SHARE, OOS_SHARE))
    n_slot = max(10, cfg.vocab_words - per_intent * cfg.n_classes - per_domain * cfg.n_groups - n_function - n_oos)
    rng = np.random.default_rng([seed, 150])
    taken: set = set()
    function, slots, unseen = words(n_function, rng, taken), words(n_slot, rng, taken), words(n_oos, rng, taken)
    domain_words = [words(per_domain, rng, taken) for _ in range(cfg.n_groups)]
    intent_words = [words(per_intent, rng, taken) for _ in range(cfg.n_classes)]
    domain_of = np.array(
        [d for d, idx in enumerate(np.array_split(np.arange(cfg.n_classes), cfg.n_groups)) for _ in idx]
    )
    siblings = [
        np.flatnonzero((domain_of == domain_of[c]) & (np.arange(cfg.n_classes) != c)) for c in range(cfg.n_classes)
    ]
    domain_names = words(cfg.n_groups, rng, taken)
    names = [f"{domain_names[domain_of[c]]}_{w}" for c, w in enumerate(words(cfg.n_classes, rng, taken))]
    zipf = {
        n: (1.0 / np.arange(1, n + 1) ** ZIPF) / (1.0 / np.arange(1, n + 1) ** ZIPF).sum()
        for n in {per_intent, per_domain, n_function, n_slot, n_oos}
    }

    def pick(pool: list[str], k: int) -> list[str]:
        return list(np.asarray(pool, dtype=object)[rng.choice(len(pool), size=k, p=zipf[len(pool)])]) if k else []

    def length() -> int:
        return int(np.clip(round(rng.gamma(6.0, MEAN_LEN / 6.0)), cfg.min_len, cfg.max_len))

    def query(c: int) -> list[str]:
        n = length()
        if c < 0:  # out of scope
            counts = rng.multinomial(n, OOS_MIX)
            stray = intent_words[int(rng.integers(cfg.n_classes))]
            tokens = (
                pick(function, counts[0])
                + pick(domain_words[int(rng.integers(cfg.n_groups))], counts[1])
                + pick(slots, counts[2])
                + pick(unseen, counts[3])
                + pick(stray, counts[4])
            )
        else:
            sib = int(rng.choice(siblings[c])) if len(siblings[c]) else c
            own = sib if rng.random() < VAGUE else c  # a vague query: all but one of its intent words are a sibling's
            first = pick(intent_words[sib if rng.random() < BORROW else c], 1)
            counts = rng.multinomial(n - 1, (OWN, SIBLING, DOMAIN, SLOT, 1.0 - OWN - SIBLING - DOMAIN - SLOT))
            tokens = (
                first
                + pick(intent_words[own], counts[0])
                + pick(intent_words[sib], counts[1])
                + pick(domain_words[domain_of[c]], counts[2])
                + pick(slots, counts[3])
                + pick(function, counts[4])
            )
            if own != c:
                tokens.append(pick(intent_words[c], 1)[0])
                tokens = tokens[-n:] if len(tokens) > n else tokens
        return list(rng.permutation(np.asarray(tokens, dtype=object)))

    rows = []
    oos_counts = {
        "train": 0,
        "val": cfg.oos_per_split,
        "test": cfg.oos_per_split if cfg.oos_test is None else cfg.oos_test,
    }
    for split, k in zip(SPLITS, (cfg.train_per_class, cfg.val_per_class, cfg.test_per_class), strict=True):
        rows += [(query(c), c, split) for c in range(cfg.n_classes) for _ in range(k)]
        rows += [(query(-1), -1, split) for _ in range(oos_counts[split])]
    labels = np.array([c for _, c, _ in rows])
    train_idx = np.flatnonzero([s == "train" for _, _, s in rows])
    noisy = np.sort(rng.choice(train_idx, size=int(round(cfg.label_noise * len(train_idx))), replace=False))
    for i in noisy:
        if len(siblings[labels[i]]):
            labels[i] = rng.choice(siblings[labels[i]])
    frame, _ = shuffled_frame(rows, labels, names, rng)
    frame.attrs = {
        "domain_of": {names[c]: domain_names[domain_of[c]] for c in range(cfg.n_classes)},
        "words": {
            "function": function,
            "slot": slots,
            "unseen": unseen,
            "domain": dict(zip(domain_names, domain_words, strict=True)),
            "intent": dict(zip(names, intent_words, strict=True)),
        },
    }
    return frame, None
