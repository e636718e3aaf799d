"""One compiled train step of the seed's model: Keras's Bidirectional GRU (one loop per direction)
against `train.one_loop_bidirectional` (both directions in one loop), and whether their numbers agree.

    .venv/bin/python benchmarks/step_speed.py              # 3 rounds of 30 steps each way (~2 min idle)
    .venv/bin/python benchmarks/step_speed.py -r 1 -n 10   # quicker, noisier

The seed's model and head on the embedded data, batch 32, under XLA as in training. A step is the
forward pass, the loss and the gradients of every trainable weight, in one `tf.function(jit_compile=
True)`; the forward pass alone (training mode, as the monitor's predict is compiled) is timed too.
Both models are built from the same seed, so they hold the same weights and draw the same dropout
masks: the first step's outputs, loss and gradients are compared bit for bit. Printed: the first
call (tracing + XLA compilation), the median step per round, and the ratio Keras / one loop per
round, with the rounds alternating their order.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

MODES = ("keras", "one loop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-n", "--steps", type=int, default=30)
    args = parser.parse_args()

    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    from conftest import compose_config
    from probsweep.config import validate
    from probsweep.data.loading import load_dataset
    from probsweep.train.fit import seed_everything
    from probsweep.train.model import build_model, make_loss
    from probsweep.train.recurrent import fuse_bidirectional

    warnings.simplefilter("ignore")
    cfg = validate(compose_config([]))
    data = load_dataset(cfg.data, cfg.model.embed_dim, cfg.seed)
    x, y = tf.constant(data.x_train[:32]), tf.constant(data.y_train[:32].astype("int32"))

    def functions(mode):
        keras.backend.clear_session()
        seed_everything(cfg.seed, False)
        model = build_model(cfg.model, data.vocab_size, data.n_classes, data.x_train.shape[1], data.embedding_matrix)
        if mode == "one loop":
            assert fuse_bidirectional(model) == 1
        loss_fn = make_loss(cfg.model)

        @tf.function(jit_compile=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                outputs = model(x, training=True)
                loss = loss_fn(y, outputs)
            return outputs, loss, tape.gradient(loss, model.trainable_variables)

        @tf.function(jit_compile=True)
        def forward(x):
            return model(x, training=True)

        return step, forward

    def timed(fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        tf.nest.map_structure(lambda v: v.numpy(), out)
        return time.perf_counter() - t, out

    print(f"{os.cpu_count()} cores; seed model, batch 32, max_len 150, XLA; {args.rounds} rounds of {args.steps} steps")
    first, ratios, steps, forwards = {}, [], {m: [] for m in MODES}, {m: [] for m in MODES}
    for r in range(args.rounds):
        order = MODES if r % 2 == 0 else MODES[::-1]
        for mode in order:
            step, forward = functions(mode)
            compile_s, out = timed(step, x, y)
            forward_compile_s, _ = timed(forward, x)
            if r == 0:
                first[mode] = [np.asarray(v) for v in tf.nest.flatten(out)]
            s = statistics.median(timed(step, x, y)[0] for _ in range(args.steps))
            f = statistics.median(timed(forward, x)[0] for _ in range(args.steps))
            steps[mode].append(s)
            forwards[mode].append(f)
            print(
                f"round {r + 1} {mode:8s}: first call {compile_s:.2f} s (forward {forward_compile_s:.2f} s); "
                f"step {s * 1000:.1f} ms, forward {f * 1000:.1f} ms",
                flush=True,
            )
        ratios.append(steps["keras"][-1] / steps["one loop"][-1])
    same = all(np.array_equal(a, b) for a, b in zip(first["keras"], first["one loop"], strict=True))
    print(
        f"\nstep, median over rounds: keras {statistics.median(steps['keras']) * 1000:.1f} ms, one loop "
        f"{statistics.median(steps['one loop']) * 1000:.1f} ms: keras / one loop {statistics.median(ratios):.2f}x "
        f"(per round: {', '.join(f'{q:.2f}' for q in ratios)})"
    )
    print(
        f"forward, median: keras {statistics.median(forwards['keras']) * 1000:.1f} ms, one loop "
        f"{statistics.median(forwards['one loop']) * 1000:.1f} ms"
    )
    print(f"outputs, loss and {len(first['keras']) - 2} gradients bit for bit equal: {same}")


if __name__ == "__main__":
    main()
