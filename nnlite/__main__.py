"""``python -m nnlite [command]``: the command-line entry.

    python -m nnlite            train a 784-128-10 ReLU network on the built-in MNIST split
    python -m nnlite demo       the same, with options (--epochs, --seed, --quiet)
"""
from __future__ import annotations

import argparse
import sys
import time


def demo(args) -> int:
    """Train 784-128-10 (ReLU, softmax cross-entropy, Adam) on the built-in MNIST split."""
    import nnlite
    from nnlite.layers import Dense

    (x_train, y_train), (x_test, y_test) = nnlite.datasets.load_builtin_mnist()
    print(f"built-in MNIST: {len(x_train)} training and {len(x_test)} test images "
          "(MNIST test set, LeCun, Cortes & Burges, CC BY-SA 3.0)")
    model = nnlite.Sequential([Dense(128, activation="relu", input_dim=784),
                               Dense(10, activation="softmax")], seed=args.seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=nnlite.optimizers.Adam(learning_rate=1e-3), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64,
              verbose=0 if args.quiet else 1, seed=args.seed)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) after {args.epochs} epochs "
          f"in {seconds:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nnlite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    demo_parser = commands.add_parser("demo", help="train an MLP on the built-in MNIST data")
    for p in (parser, demo_parser):
        p.add_argument("--epochs", type=int, default=10)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    demo_parser.set_defaults(func=demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return getattr(args, "func", demo)(args)


if __name__ == "__main__":
    sys.exit(main())
