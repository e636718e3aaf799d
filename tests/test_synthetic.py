"""Tests for probsweep.synthetic: determinism, the exact vocabulary, group structure, where the noise goes."""

from collections import Counter
from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest

from probsweep.config import SyntheticConfig
from probsweep.data import synthetic

SMALL = SyntheticConfig(
    n_classes=12,
    n_groups=3,
    train_per_class=8,
    val_per_class=3,
    test_per_class=2,
    min_len=10,
    max_len=40,
    vocab_words=150,
    label_noise=0.1,
)


@pytest.fixture(scope="module")
def small():
    return synthetic.generate(SMALL, 16, seed=3)


def _train_words(frame):
    return set(" ".join(frame[frame.split == "train"].text).split())


def test_same_seed_same_output_and_different_seed_differs(small):
    frame, vectors = small
    again, vectors2 = synthetic.generate(SMALL, 16, seed=3)
    pd.testing.assert_frame_equal(frame, again)
    assert frame.attrs == again.attrs
    assert vectors.keys() == vectors2.keys() and all(np.array_equal(vectors[w], vectors2[w]) for w in vectors)
    other, _ = synthetic.generate(SMALL, 16, seed=4)
    assert not frame.equals(other)


def test_columns_counts_and_lengths(small):
    frame, _ = small
    assert list(frame.columns) == ["text", "label", "split"]
    assert frame.label.nunique() == SMALL.n_classes
    assert (frame.split == "train").sum() == SMALL.n_classes * SMALL.train_per_class
    for split, k in (("val", SMALL.val_per_class), ("test", SMALL.test_per_class)):
        assert set(frame[frame.split == split].label.value_counts()) == {k}  # validation/test labels are clean
    lengths = frame.text.str.split().str.len()
    assert lengths.min() >= SMALL.min_len and lengths.max() <= SMALL.max_len
    assert frame.text.str.fullmatch(r"[a-z]+( [a-z]+)*").all()  # TextVectorization keeps every token as is


def test_every_word_in_train_and_has_a_vector(small):
    frame, vectors = small
    assert _train_words(frame) == set(" ".join(frame.text).split()) == set(vectors)
    assert len(vectors) == SMALL.vocab_words
    assert all(v.dtype == np.float32 and v.shape == (16,) for v in vectors.values())


def test_default_config_gives_the_seed_vocabulary_of_884():
    frame, vectors = synthetic.generate(SyntheticConfig(), 100, seed=42)
    vectorizer = keras.layers.TextVectorization(max_tokens=20000, output_sequence_length=150)
    vectorizer.adapt(np.asarray(frame[frame.split == "train"].text.tolist(), dtype=object))
    assert len(vectorizer.get_vocabulary()) == 884 and len(vectors) == 882
    assert frame.label.nunique() == 102


def test_groups_share_words_and_vectors_cluster(small):
    frame, vectors = small
    attrs = frame.attrs
    groups = attrs["group_of"]
    assert len(set(groups.values())) == SMALL.n_groups and set(groups) == set(frame.label)
    all_words = (
        attrs["words"]["filler"] + sum(attrs["words"]["group"].values(), []) + sum(attrs["words"]["class"].values(), [])
    )
    assert len(all_words) == len(set(all_words)) == SMALL.vocab_words
    # Clean documents mostly use their own group's words more than any other group's (stray words and
    # short texts make a few exceptions, as in real data).
    agree = []
    for text, label in frame[frame.split == "val"][["text", "label"]].itertuples(index=False):
        tokens = Counter(text.split())
        group_hits = {g: sum(tokens[w] for w in ws) for g, ws in attrs["words"]["group"].items()}
        agree.append(max(group_hits, key=group_hits.get) == groups[label])
    assert np.mean(agree) > 0.8
    # Words of one group lie closer together than words of different groups.
    g1, g2 = list(attrs["words"]["group"].values())[:2]

    def mean_cos(a, b):
        A = np.stack([vectors[w] for w in a])
        B = np.stack([vectors[w] for w in b])
        A /= np.linalg.norm(A, axis=1, keepdims=True)
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        return float((A @ B.T).mean())

    assert mean_cos(g1, g1) > mean_cos(g1, g2) + 0.2


def test_label_noise_only_in_train_and_moves_to_a_sibling(small):
    frame, _ = small
    noisy = frame.attrs["noisy_rows"]
    assert len(noisy) == round(SMALL.label_noise * SMALL.n_classes * SMALL.train_per_class)
    assert set(frame.split.iloc[noisy]) == {"train"}
    class_words = frame.attrs["words"]["class"]
    for i in noisy:
        tokens = Counter(frame.text.iloc[i].split())
        hits = {c: sum(tokens[w] for w in ws) for c, ws in class_words.items()}
        written_as = max(hits, key=hits.get)
        if hits[written_as]:  # the text still speaks of its original class, a sibling of the new label
            assert frame.attrs["group_of"][written_as] == frame.attrs["group_of"][frame.label.iloc[i]]
    clean, _ = synthetic.generate(replace(SMALL, label_noise=0.0), 16, seed=3)
    assert clean.attrs["noisy_rows"] == []


def test_out_of_scope_rows_in_val_and_test_only():
    cfg = replace(SMALL, oos_per_split=5)
    frame, _ = synthetic.generate(cfg, 8, seed=1)
    oos = frame[frame.label == synthetic.OOS_LABEL]
    assert oos.split.value_counts().to_dict() == {"val": 5, "test": 5}
    class_words = set(sum(frame.attrs["words"]["class"].values(), []))
    assert all(not (set(t.split()) & class_words) for t in oos.text)


@pytest.mark.parametrize("bad", [dict(n_groups=20), dict(vocab_words=12), dict(min_len=50, max_len=40)])
def test_impossible_configs_raise(bad):
    with pytest.raises(ValueError):
        synthetic.generate(replace(SMALL, **bad), 8, seed=0)


INTENTS = SyntheticConfig(
    profile="intents",
    n_classes=30,
    n_groups=3,
    train_per_class=20,
    val_per_class=5,
    test_per_class=5,
    min_len=3,
    max_len=15,
    vocab_words=1500,
    label_noise=0.0,
    oos_per_split=20,
    oos_test=40,
)


def test_intents_profile_short_queries_many_classes_no_vectors_and_out_of_scope():
    frame, vectors = synthetic.generate(INTENTS, 100, seed=1)
    assert vectors is None  # no pretrained vectors: the embedding must be learnt
    again, _ = synthetic.generate(INTENTS, 100, seed=1)
    pd.testing.assert_frame_equal(frame, again)
    lengths = frame.text.str.split().str.len()
    assert lengths.between(3, 15).all() and 6 <= lengths.mean() <= 10
    counts = frame.groupby("split").label.value_counts()
    assert (counts["train"] == 20).all() and len(counts["train"]) == 30 and "oos" not in counts["train"]
    assert counts["val"]["oos"] == 20 and counts["test"]["oos"] == 40
    # A skewed vocabulary: the commonest 10% of words make up most tokens; a long tail is seen once or never.
    tokens = Counter(" ".join(frame.text).split())
    freq = np.sort(np.array(list(tokens.values())))[::-1]
    assert freq[: len(freq) // 10].sum() > 0.5 * freq.sum() and (freq == 1).sum() > 0.2 * len(freq)
    # Shared across intents: the function words occur in the queries of every intent.
    train = frame[(frame.split == "train")]
    common = tokens.most_common(1)[0][0]
    assert train[train.text.str.split().apply(lambda t: common in t)].label.nunique() == 30
    # Each in-scope query has a word of its own intent or, when it is ambiguous, of a sibling intent;
    # most have their own.
    words, domain = frame.attrs["words"]["intent"], frame.attrs["domain_of"]
    own = [bool(set(t.split()) & set(words[lab])) for t, lab in train[["text", "label"]].itertuples(index=False)]
    in_domain = [
        bool(set(t.split()) & {w for c, ws in words.items() if domain[c] == domain[lab] for w in ws})
        for t, lab in train[["text", "label"]].itertuples(index=False)
    ]
    assert all(in_domain) and 0.85 < np.mean(own) < 1.0
    unseen = set(frame.attrs["words"]["unseen"])
    assert not unseen & set(" ".join(train.text).split())  # out-of-scope words never occur in training
