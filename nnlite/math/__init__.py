"""The math floor: pure functions and tables that layers, losses and models use.

    activations    activation functions and their derivatives (one table; ``get``, ``names``)
    initializers   weight initializers (``get``, ``names``)
    regularizers   weight penalties L1/L2 and their gradients

Public paths: ``nnlite.activations``, ``nnlite.initializers``, ``nnlite.regularizers``.
"""
