"""The command-line entry of nnlite (python -m nnlite [command]).

    python -m nnlite            train a 784-128-10 ReLU network on the built-in MNIST split
    python -m nnlite demo       the same, with options (--epochs, --seed, --quiet)
    python -m nnlite depth      the depth study: sigmoid/tanh/ReLU/ReLU+residual x depth,
                                written to ./nnlite-depth (--out to choose the folder)
"""
from __future__ import annotations

import argparse
import sys
import time

#: where ``python -m nnlite depth`` writes when no --out is given (never a tracked folder)
DEPTH_OUT = "nnlite-depth"


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
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) after {_count(args.epochs, 'epoch')} "
          f"in {seconds:.1f} s")
    return 0


def _count(n, noun) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def depth(args) -> int:
    """Run the depth study and write its table (CSV, JSON, markdown) and figures to --out."""
    from .experiments import depth as experiments

    settings = dict(experiments.QUICK) if args.quick else {}
    for key in ("depths", "activations", "epochs", "width", "n_train"):
        if getattr(args, key) is not None:
            settings[key] = tuple(getattr(args, key)) if key in ("depths", "activations") \
                else getattr(args, key)
    start = time.perf_counter()
    results = experiments.depth_study(data=args.data, seed=args.seed, init=args.init,
                                      progress=not args.quiet, **settings)
    seconds = time.perf_counter() - start
    # --quick gets its own file names so it never overwrites a full run's results
    paths = results.save(args.out, prefix="depth_quick_" if args.quick else "depth_")
    print(results.to_markdown())
    print(f"depth study: {_count(len(results.rows), 'network')} in {seconds:.1f} s; wrote")
    for path in paths:
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nnlite", description=__doc__.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    demo_parser = commands.add_parser("demo", help="train an MLP on the built-in MNIST data")
    for p in (parser, demo_parser):
        p.add_argument("--epochs", type=int, default=10)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    demo_parser.set_defaults(func=demo)
    depth_parser = commands.add_parser("depth", help="the depth study: gradient vanishing, "
                                       "ReLU and skip connections, measured")
    depth_parser.add_argument("--quick", action="store_true",
                              help="a small sweep (depths 1 4 16, 3 epochs, 2000 images), "
                              "written as depth_quick_*")
    depth_parser.add_argument("--out", default=DEPTH_OUT,
                              help=f"output folder (default: ./{DEPTH_OUT})")
    depth_parser.add_argument("--data", choices=("mnist", "spirals"), default="mnist")
    depth_parser.add_argument("--depths", type=int, nargs="+", metavar="D")
    depth_parser.add_argument("--activations", nargs="+", metavar="A",
                              choices=("sigmoid", "tanh", "relu", "relu+residual"))
    depth_parser.add_argument("--epochs", type=int)
    depth_parser.add_argument("--width", type=int)
    depth_parser.add_argument("--n-train", dest="n_train", type=int,
                              help="use the first N training examples")
    depth_parser.add_argument("--init", choices=("auto", "glorot", "he"), default="auto")
    depth_parser.add_argument("--seed", type=int, default=0)
    depth_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    depth_parser.set_defaults(func=depth)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return getattr(args, "func", demo)(args)


if __name__ == "__main__":
    sys.exit(main())
