"""End to end: a small Vision Transformer (patch 7, dim 64, 4 heads, 2 pre-norm encoder blocks,
GELU MLP 128, class token) learns the built-in MNIST split to at least 94% test accuracy.

Measured on the shared 2-core machine: 95.2% after 8 epochs (Adam, cosine-decayed learning
rate from 2e-3; about 3 s per epoch when the machine is quiet, 8 s under load).  For
comparison, the same model in PyTorch with a constant rate of 1e-3 gets 93.3% after 15 epochs
and 95.6% after 30 (the issue's figures); benchmarks/vit.py trains the identical PyTorch model
(same initial weights through to_torch, same batches) and records both in benchmarks/README.md.
The test asserts on accuracy only.
"""
import numpy as np
from test_cnn_mnist import _one_blas_thread

import nnlite
from nnlite.layers import (
    Add,
    ClassToken,
    Dense,
    LayerNormalization,
    PatchEmbedding,
    PositionEmbedding,
    SelectToken,
    TransformerEncoder,
)

EPOCHS = 8


def test_vision_transformer_reaches_94_percent_on_builtin_mnist():
    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist(flatten=False)
    images = nnlite.Input(shape=(1, 28, 28))
    tokens = ClassToken()(PatchEmbedding(7, 64)(images))              # (17, 64)
    tokens = Add()([tokens, PositionEmbedding(17)(tokens)])
    for _ in range(2):
        tokens = TransformerEncoder(128, 4, activation="gelu", normalize_first=True)(tokens)
    cls = SelectToken(0)(LayerNormalization(epsilon=1e-5)(tokens))
    model = nnlite.Model(images, Dense(10, activation="softmax")(cls), seed=0)
    assert model.count_params() == 72_074
    steps = -(-len(x_train) // 64)
    rate = nnlite.schedules.CosineDecay(2e-3, decay_steps=EPOCHS * steps)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=rate), metrics=["accuracy"])
    losses = []
    with _one_blas_thread():
        for epoch in range(EPOCHS):  # one fit per epoch: the batch order of seed=epoch
            losses += model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0,
                                seed=epoch).history["loss"]
        _, accuracy = model.evaluate(x_test, y_test)
        predicted = model.predict_classes(x_test)
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy >= 0.94, f"test accuracy {accuracy:.4f}"
    assert np.mean(predicted == y_test) == accuracy
