"""Plain NumPy references for the image and normalization layers, written with explicit loops
over output pixels (slow, obvious, independent of nnlite's im2col code).  Used by the layer
contract harness in test_layers.py and by the per-layer tests."""
import numpy as np


def same_pads(size, kernel, stride, dilation=1):
    """TensorFlow/Keras 'same': output ceil(size / stride); the odd pixel of padding goes last."""
    extent = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _pads(layer, h, w, dilation=(1, 1)):
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    if layer.padding == "valid":
        return (0, 0), (0, 0)
    return (same_pads(h, kernel[0], layer.strides[0], dilation[0]),
            same_pads(w, kernel[1], layer.strides[1], dilation[1]))


def conv2d(layer, x):
    """y[n, f, i, j] = b[f] + Σ W[f, c, u, v] x_pad[n, c, i s + u d, j s + v d], then activation
    (activation applied by the caller)."""
    kernel = layer.params["kernel"]
    f, _, kh, kw = kernel.shape
    (sh, sw), (dh, dw) = layer.strides, layer.dilation_rate
    n, _, h, w = x.shape
    (pt, pb), (pl, pr) = _pads(layer, h, w, layer.dilation_rate)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    wo = (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + (kh - 1) * dh + 1:dh,
                       j * sw:j * sw + (kw - 1) * dw + 1:dw]          # (n, c, kh, kw)
            y[:, :, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [1, 2, 3]))
    if layer.use_bias:
        y += layer.params["bias"][None, :, None, None]
    return y


def pool2d(layer, x, kind):
    """Max (padding ignored) or average (padding not counted) over each window."""
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    n, c, h, w = x.shape
    (pt, pb), (pl, pr) = _pads(layer, h, w)
    valid = np.pad(np.ones((h, w), bool), ((pt, pb), (pl, pr)))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (xp.shape[2] - ph) // sh + 1
    wo = (xp.shape[3] - pw) // sw + 1
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows, cols = slice(i * sh, i * sh + ph), slice(j * sw, j * sw + pw)
            mask = valid[rows, cols]
            window = xp[:, :, rows, cols][:, :, mask]                 # (n, c, real pixels)
            y[:, :, i, j] = window.max(axis=-1) if kind == "max" else window.mean(axis=-1)
    return y


def batch_norm_inference(layer, x):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = layer.state["moving_mean"].reshape(shape)
    var = layer.state["moving_variance"].reshape(shape)
    return (layer.params["gamma"].reshape(shape) * (x - mean) / np.sqrt(var + layer.epsilon)
            + layer.params["beta"].reshape(shape))


def batch_norm_training(layer, x):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (layer.params["gamma"].reshape(shape) * (x - mean) / np.sqrt(var + layer.epsilon)
            + layer.params["beta"].reshape(shape))


def layer_norm(layer, x):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return layer.params["gamma"] * (x - mean) / np.sqrt(var + layer.epsilon) + layer.params["beta"]


#: layer class name -> reference forward (inference mode); Conv2D's activation is applied by
#: the caller, so it is not listed here
FORWARD = {
    "MaxPool2D": lambda layer, x: pool2d(layer, x, "max"),
    "AvgPool2D": lambda layer, x: pool2d(layer, x, "avg"),
    "GlobalAveragePooling2D": lambda layer, x: x.mean(axis=(2, 3), keepdims=layer.keepdims),
    "Flatten": lambda layer, x: x.reshape(len(x), -1),
    "Reshape": lambda layer, x: x.reshape((len(x),) + tuple(layer.target_shape)),
    "Dropout": lambda layer, x: x,
    "BatchNormalization": batch_norm_inference,
    "LayerNormalization": layer_norm,
}
