"""Bidirectional RNN layers with both directions in one loop: the same cells, weights, dropout draws
and arithmetic as Keras, in half the sequential steps.

Keras runs `Bidirectional(GRU(...))` as two recurrent loops, one direction after the other. On a CPU
with XLA a step of the seed's GRU (batch 32, 32 units) costs far more in loop and dispatch overhead
than in arithmetic, so the training step is bound by the number of sequential iterations (issue 11):
150 steps forward, then 150 backward, and as many again for the gradients.

`fuse_bidirectional` gives each such layer of a built model a call that steps the forward cell
through time t and the backward cell through time T-1-t in the same iteration. Everything else is
Keras's own: the cells' `call` (so any GRU, LSTM or SimpleRNN configuration), their dropout masks,
drawn by Keras's RNN code in its order before the loop, the zero initial state, and the flip and
concatenation of the backward outputs. The outputs and gradients are bit for bit those of Keras's
two loops, under XLA too (tests/test_recurrent.py), so a seeded training takes the same updates.

Only the layer instance's `call` changes: the model saves and loads as plain Keras. A layer called
with a mask, an initial state or sequences of no fixed length, a stateful, unrolled or
state-returning one, or one Keras could run on cuDNN (a visible GPU) keeps Keras's own call.

Plain Keras and TensorFlow: knows nothing of MLflow or tuners.
"""

from __future__ import annotations

import types

import keras
from keras import layers

CELLS = (layers.GRU, layers.LSTM, layers.SimpleRNN)  # layers whose loop is RNN.inner_loop over their cell


def fusable(layer: keras.layers.Layer) -> bool:
    """A Bidirectional whose two directions are plain recurrent layers run by Keras's generic loop."""
    if not isinstance(layer, layers.Bidirectional) or layer.return_state or layer.merge_mode != "concat":
        return False
    forward, backward = layer.forward_layer, layer.backward_layer
    return (
        type(forward) in CELLS
        and type(backward) in CELLS
        and not forward.go_backwards
        and backward.go_backwards
        and forward.return_sequences == backward.return_sequences
        # one TensorArray holds both directions' outputs, stacked
        and forward.cell.output_size == backward.cell.output_size
        and forward.cell.compute_dtype == backward.cell.compute_dtype
        and not any(g.stateful or g.unroll or g.return_state for g in (forward, backward))
        and not _gpu_visible()  # there, GRU and LSTM may take cuDNN's fused kernel instead
    )


def fuse_bidirectional(model: keras.Model) -> int:
    """Give every fusable Bidirectional layer in `model` (nested models included) the one-loop call, in
    place; returns how many. Call it before the model is traced (compiled and fitted, or predicted)."""
    count = 0
    for layer in _layers(model):
        if fusable(layer) and "call" not in vars(layer):
            layer.call = types.MethodType(_one_loop_call, layer)
            count += 1
    return count


def _layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _layers(layer)


def _gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _one_loop_call(self, sequences, initial_state=None, mask=None, training=None):
    """Bidirectional.call with the two RNN.call loops merged: what each does before and after its
    loop is kept, step by step, so that the numbers are the same."""
    if initial_state is not None or mask is not None or sequences.shape[1] is None:
        return type(self).call(self, sequences, initial_state=initial_state, mask=mask, training=training)
    import tensorflow as tf
    from keras import ops, tree

    directions = (self.forward_layer, self.backward_layer)
    batch = ops.shape(sequences)[0]
    states = []
    for rnn in directions:  # RNN.call, up to its inner loop
        state = tree.map_structure(
            lambda s, rnn=rnn: ops.convert_to_tensor(s, dtype=rnn.cell.compute_dtype),
            list(tree.flatten(rnn.get_initial_state(batch_size=batch))),
        )
        rnn._maybe_config_dropout_masks(rnn.cell, sequences[:, 0, :], state)  # draws, training or not
        states.append(state)
    kwargs = [{"training": training} if rnn.cell._call_has_training_arg else {} for rnn in directions]
    steps = sequences.shape[1]
    time_major = tf.transpose(sequences, [1, 0, 2])
    # Read step by step from TensorArrays, as Keras's loop does: their gradient is written per step.
    inputs = [tf.TensorArray(sequences.dtype, size=steps).unstack(s) for s in (time_major, ops.flip(time_major, 0))]

    def step(t, forward_state, backward_state, both_out):
        new = []
        for rnn, x_t, state, kw in (
            (directions[0], inputs[0].read(t), forward_state, kwargs[0]),
            (directions[1], inputs[1].read(t), backward_state, kwargs[1]),
        ):
            output, new_state = rnn.cell(x_t, state, **kw)
            new.append((output, list(tree.flatten(new_state))))
        (f_out, f_state), (b_out, b_state) = new
        return t + 1, f_state, b_state, both_out.write(t, ops.stack([f_out, b_out]))

    cell = directions[0].cell
    both_out = tf.TensorArray(cell.compute_dtype, size=steps, element_shape=(2, None, cell.output_size))
    _, _, _, both_out = tf.while_loop(
        lambda t, *_: t < steps,
        step,
        (tf.constant(0), states[0], states[1], both_out),
        maximum_iterations=steps,
        parallel_iterations=32,  # as Keras's TensorFlow rnn loop
        swap_memory=True,
    )
    for rnn in directions:  # RNN.call, after its inner loop
        rnn._maybe_reset_dropout_masks(rnn.cell)
    if directions[0].return_sequences:
        both = both_out.stack()
        forward = ops.transpose(both[:, 0], [1, 0, 2])
        backward = ops.flip(ops.transpose(both[:, 1], [1, 0, 2]), axis=1)  # Bidirectional's flip
    else:
        last = both_out.read(steps - 1)
        forward, backward = last[0], last[1]
    forward = ops.cast(ops.cast(forward, directions[0].compute_dtype), self.compute_dtype)
    backward = ops.cast(ops.cast(backward, directions[1].compute_dtype), self.compute_dtype)
    return ops.concatenate([forward, backward], axis=-1)
