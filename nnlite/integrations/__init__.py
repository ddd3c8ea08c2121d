"""nnlite and the systems around it, each importing its optional dependency only when used.

    pytorch        to_torch: an equivalent torch.nn.Module with the same weights
    onnx           to_onnx: an ONNX graph for serving
    export         the public module ``nnlite.export`` (to_torch, to_onnx, the exporter tables)
    sklearn        scikit-learn estimators wrapping a model        (``nnlite.sklearn``)
    distributed    data-parallel training over MPI                 (``nnlite.distributed``)
"""
