"""Pretraining of the course backbone (the instructor's: it trains for minutes and writes the bundled weights).

The student package ships the architecture, the weights and their loader
(:mod:`parcel_utils.backbone`) and the source task's generator, which 04's
notebook shows (:mod:`parcel_utils.objects`); what made the weights is here.

    python -m parcel_course.pretrain --train --epochs 30     # rewrites parcel_utils/weights/ (about 25 min, 2 cores)

Example
-------
>>> X, labels = _object_task(4, seed=0)
>>> X.shape[1:], sorted(labels)
((64, 64, 1), ['count', 'kind', 'thickness'])
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import keras
from keras import layers

from parcel_utils.backbone import ALPHA, BUNDLED, DEFAULT_WEIGHTS, HEIGHT_SCALE_MM, INPUT_SIZE, build_backbone
from parcel_utils.objects import MAX_OBJECTS as N_COUNTS, OBJECT_KINDS, THICKNESS_BINS_MM, make_object_scenes

__all__ = ["pretrain", "main"]


def _object_task(n, seed):
    X, labels = make_object_scenes(n, seed=seed)
    return X[..., None], labels


def pretrain(out=None, n_train=24000, n_val=3000, epochs=8, batch_size=128, seed=0, verbose=1,
             learning_rate=2e-3):
    """Pretrain the backbone on :func:`parcel_utils.objects.make_object_scenes`; save weights and metrics.

    Minutes to tens of minutes of training: the instructor runs it, never a notebook.

    Three heads on the backbone's features, trained together: the kind of
    the largest object (16 classes), the number of objects (1-4) and the
    thickness bin of the largest object (4).  A fresh training set is
    generated for every epoch (seed ``seed + 1 + epoch``, in a second
    process while the previous epoch trains), so the network never sees a
    map twice; the validation and test sets come from separate seeds.
    Writes ``<out>`` (the backbone's weights, no heads) and ``<out>.json``
    (accuracies per epoch, timing, machine).

    Parameters
    ----------
    out : path, default the bundled ``everyday-objects`` file
    n_train, n_val : int
        Maps per training epoch; maps in the validation and in the test set.
    epochs, batch_size : int
    seed : int
    verbose : int
        Keras progress bar (1), one line per epoch (2) or nothing (0).
    learning_rate : float
        Peak of the cosine schedule.

    Returns
    -------
    dict
        The metrics written beside the weights.
    """
    out = Path(out) if out is not None else BUNDLED[DEFAULT_WEIGHTS]
    out.parent.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    t0 = time.time()
    heads = {"kind": len(OBJECT_KINDS), "count": N_COUNTS, "thickness": len(THICKNESS_BINS_MM) + 1}
    with ProcessPoolExecutor(1) as pool:
        nxt = pool.submit(_object_task, n_train, seed + 1)
        Xv, yv = _object_task(n_val, 10_000 + seed)
        Xt, yt = _object_task(n_val, 20_000 + seed)
        fen = build_backbone()
        for layer in fen.layers:   # Keras' MobileNetV2 uses 0.999: too slow for a few thousand steps
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = 0.9
        inp = keras.Input(fen.input_shape[1:])
        feats = layers.Dropout(0.2)(fen(inp))
        model = keras.Model(inp, {k: layers.Dense(c, activation="softmax", name=k)(feats) for k, c in heads.items()})
        steps = epochs * (n_train // batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss={k: "sparse_categorical_crossentropy" for k in heads},
                      metrics={k: ["accuracy"] for k in heads})
        history = []
        for epoch in range(epochs):
            X, y = nxt.result()
            if epoch + 1 < epochs:
                nxt = pool.submit(_object_task, n_train, seed + 2 + epoch)
            h = model.fit(X, y, validation_data=(Xv, yv), batch_size=batch_size,
                          epochs=epoch + 1, initial_epoch=epoch, verbose=verbose)
            history.append({k: round(float(v[-1]), 4) for k, v in h.history.items()}
                           | {"seconds": round(time.time() - t0, 1)})
            fen.save_weights(out)            # a usable file after every epoch
    test = model.evaluate(Xt, yt, batch_size=512, verbose=0, return_dict=True)
    fen.save_weights(out)
    metrics = {
        "source_task": "parcel_utils.objects.make_object_scenes", "kinds": list(OBJECT_KINDS),
        "max_objects": N_COUNTS, "thickness_bins_mm": list(THICKNESS_BINS_MM),
        "input_size": INPUT_SIZE, "alpha": ALPHA, "height_scale_mm": HEIGHT_SCALE_MM,
        "n_train_per_epoch": n_train, "epochs": epochs, "batch_size": batch_size, "seed": seed,
        "learning_rate": learning_rate, "history": history, "n_test": n_val,
        **{f"test_{k}_accuracy": round(float(test[f"{k}_accuracy"]), 4) for k in heads},
        "train_seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.system()}",
        "keras": keras.__version__,
        "weights_bytes": out.stat().st_size,
        "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }
    Path(str(out) + ".json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m parcel_course.pretrain",
                                description="Pretrain the course backbone on scenes of everyday objects "
                                            "(parcel_utils.objects.make_object_scenes).")
    p.add_argument("--train", action="store_true", help="run the pretraining and write the weights")
    p.add_argument("--out", default=None, help="weights file (default: the bundled one)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--n-train", type=int, default=24000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    args = p.parse_args(argv)
    if not args.train:
        p.print_help()
        return 0
    m = pretrain(args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed, verbose=2,
                 learning_rate=args.learning_rate)
    print(json.dumps({k: v for k, v in m.items() if k.startswith("test_") or k in ("train_seconds", "machine")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
