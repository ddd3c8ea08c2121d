"""Hand-written NumPy training loops: the bound nnlite's overhead is measured against.

These are deliberately *not* a framework: one function per workload, every buffer allocated once
before the loop, every elementwise step written with ``out=`` / in-place ufuncs, the same math and
the same batch order as ``nnlite``'s ``fit`` (``rng = np.random.default_rng(seed)``, one
``rng.permutation(n)`` per epoch, batches gathered with ``np.take(..., mode="clip")``).

    MLP (Dense layers, hidden activation f, softmax cross-entropy on logits, plain SGD):
        z_l = a_{l-1} W_l + b_l,  a_l = f(z_l)              a: (batch, width)
        L   = mean_i [logsumexp(z_L,i) - z_L,i,y_i]
        dz_L = (softmax(z_L) - onehot(y)) / batch
        dW_l = a_{l-1}ᵀ dz_l,  db_l = Σ_batch dz_l,  da_{l-1} = dz_l W_lᵀ,  dz_{l-1} = da ⊙ f'
        w ← w - η dw      (all parameters and gradients as views of one flat buffer each)

    Logistic regression (labels ±1, full-batch GD):
        s = X w + b,  L = mean log(1 + exp(-y s)),  ds = -y σ(-y s) / n
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = ["NumpyMLP", "numpy_logistic_gd"]


class NumpyMLP:
    """An MLP with fixed weights ``[(W_1, b_1), ...]`` and one hidden activation
    (``"relu"`` or ``"sigmoid"``); the last layer is linear + softmax cross-entropy."""

    def __init__(self, weights, activation="relu"):
        if activation not in ("relu", "sigmoid"):
            raise ValueError(f"activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.activation = activation
        self.dtype = np.dtype(weights[0][0].dtype)
        sizes = [w.size + b.size for w, b in weights]
        self.flat = np.empty(sum(sizes), dtype=self.dtype)
        self.flat_grad = np.empty_like(self.flat)
        self.scratch = np.empty_like(self.flat)
        self.W, self.b, self.dW, self.db = [], [], [], []
        offset = 0
        for w, b in weights:
            for arr, params, grads in ((w, self.W, self.dW), (b, self.b, self.db)):
                view = slice(offset, offset + arr.size)
                params.append(self.flat[view].reshape(arr.shape))
                params[-1][...] = arr
                grads.append(self.flat_grad[view].reshape(arr.shape))
                offset += arr.size
        self.widths = [w.shape[1] for w, _ in weights]

    def get_weights(self):
        return [a.copy() for pair in zip(self.W, self.b) for a in pair]

    def _buffers(self, batch):
        a = [np.empty((batch, k), dtype=self.dtype) for k in self.widths]
        d = [np.empty((batch, k), dtype=self.dtype) for k in self.widths]
        t = [np.empty((batch, k), dtype=self.dtype) for k in self.widths]
        return a, d, t

    def fit(self, x, y, epochs, batch_size, learning_rate, seed):
        """Minibatch SGD; returns the per-epoch mean losses (as nnlite's History does)."""
        n = x.shape[0]
        rng = np.random.default_rng(seed)
        x_buf = np.empty((batch_size, x.shape[1]), dtype=x.dtype)
        y_buf = np.empty(batch_size, dtype=y.dtype)
        full = self._buffers(batch_size)
        tail = n % batch_size
        part = self._buffers(tail) if tail else None
        W, b, dW, db = self.W, self.b, self.dW, self.db
        last = len(W) - 1
        relu = self.activation == "relu"
        row_index = np.arange(batch_size)
        losses = []
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                size = idx.shape[0]
                a, d, t = full if size == batch_size else part
                xb = np.take(x, idx, axis=0, out=x_buf[:size], mode="clip")
                yb = np.take(y, idx, axis=0, out=y_buf[:size], mode="clip")
                # forward
                h = xb
                for l in range(last + 1):
                    z = np.matmul(h, W[l], out=a[l])
                    z += b[l]
                    if l < last:
                        if relu:
                            np.maximum(z, 0, out=z)
                        else:
                            expit(z, out=z)
                    h = z
                # fused softmax cross-entropy on the logits a[last]
                logits = a[last]
                rows = row_index[:size]
                m = np.max(logits, axis=1, keepdims=True)
                logits -= m
                picked = logits[rows, yb]
                np.exp(logits, out=logits)
                norm = np.sum(logits, axis=1, keepdims=True)
                total += float(np.sum(np.log(norm)) - np.sum(picked))
                logits /= norm
                logits[rows, yb] -= 1.0
                logits *= 1.0 / size
                # backward
                dz = logits
                for l in range(last, -1, -1):
                    h_prev = a[l - 1] if l else xb
                    np.matmul(h_prev.T, dz, out=dW[l])
                    np.sum(dz, axis=0, out=db[l])
                    if l == 0:
                        break
                    dh = np.matmul(dz, W[l].T, out=d[l - 1])
                    if relu:
                        # times the boolean step 1[a > 0]: measured faster than a float mask
                        # from np.greater(out=) or np.where on this machine
                        np.multiply(dh, h_prev > 0, out=dh)
                    else:
                        tmp = np.subtract(1.0, h_prev, out=t[l - 1])
                        tmp *= h_prev
                        dh *= tmp
                    dz = dh
                # update: one pass over the flat buffers
                np.multiply(self.flat_grad, learning_rate, out=self.scratch)
                self.flat -= self.scratch
            losses.append(total / n)
        return losses

    def predict(self, x, batch_size):
        """Softmax probabilities, ``batch_size`` rows at a time, into one output array."""
        n = x.shape[0]
        out = np.empty((n, self.widths[-1]), dtype=self.dtype)
        a, _, _ = self._buffers(min(batch_size, n))
        tail = n % batch_size
        a_tail = self._buffers(tail)[0] if tail else None
        last = len(self.W) - 1
        relu = self.activation == "relu"
        for start in range(0, n, batch_size):
            h = x[start:start + batch_size]
            buf = a if h.shape[0] == a[0].shape[0] else a_tail
            for l in range(last):
                z = np.matmul(h, self.W[l], out=buf[l])
                z += self.b[l]
                if relu:
                    np.maximum(z, 0, out=z)
                else:
                    expit(z, out=z)
                h = z
            p = np.matmul(h, self.W[last], out=out[start:start + h.shape[0]])
            p += self.b[last]
            p -= np.max(p, axis=1, keepdims=True)
            np.exp(p, out=p)
            p /= np.sum(p, axis=1, keepdims=True)
        return out


def numpy_logistic_gd(x, y, w, b, iterations, learning_rate):
    """Full-batch GD on L = mean log(1 + exp(-y (x w + b))); ``y`` of shape (n, 1) in ±1.
    Returns the losses (before each update) and the final ``(w, b)``."""
    n = x.shape[0]
    dtype = x.dtype
    flat = np.empty(w.size + 1, dtype=dtype)
    grad = np.empty_like(flat)
    w_view, b_view = flat[:-1].reshape(w.shape), flat[-1:]
    dw_view, db_view = grad[:-1].reshape(w.shape), grad[-1:]
    w_view[...] = w
    b_view[...] = b
    s = np.empty((n, 1), dtype=dtype)
    margin = np.empty((n, 1), dtype=dtype)
    neg_y = -y
    losses = []
    for _ in range(iterations):
        np.matmul(x, w_view, out=s)
        s += b_view
        np.multiply(neg_y, s, out=margin)
        losses.append(float(np.sum(np.logaddexp(0.0, margin))) / n)
        expit(margin, out=margin)          # σ(-y s)
        margin *= neg_y
        margin *= 1.0 / n                  # ds
        np.matmul(x.T, margin, out=dw_view)
        np.sum(margin, axis=0, out=db_view)
        grad *= learning_rate
        flat -= grad
    return losses, (w_view.copy(), b_view.copy())
