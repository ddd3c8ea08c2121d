"""Looking into a model: derivatives and gradient checks, health measures, pictures.

    derivatives    input_gradient (saliency), gradients of any output or loss   nnlite.grad
    gradcheck      finite-difference checks of layers, losses and models        nnlite.gradcheck
    measures       gradient norms per layer, unit health, on one batch
    time_steps     the same per time step of recurrent layers                   nnlite.monitors_time
    graphview      plot_graph: the computational graph, with values and gradients
    plotting       history, decision boundaries, gradient norms, depth figures  nnlite.plotting
"""
