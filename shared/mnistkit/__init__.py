"""mnistkit: the helper package of the MNIST course (data, training loop, summaries, plots, metrics).

Notebooks import what they need from the modules:

    from mnistkit.data import load_mnist
    from mnistkit.train import fit
    from mnistkit.summary import summarize
"""
__version__ = "0.1.0"
