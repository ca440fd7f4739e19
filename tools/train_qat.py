"""Make the QAT model notebook 07's laptop path loads (models/resnet18_cifar10_qat_int8.pt), on a GPU.

    python tools/train_qat.py --out models/resnet18_cifar10_qat_int8.pt --record results/qat-model/train_qat.json

The shipped FP32 model, in notebook 07's setting (one scale per weight tensor, weights on 5 bits): PTQ on the full
profile's 2,048 calibration images as the baseline, then quantization-aware training (helpers.beyond_ptq: fake
quantization, distillation from the FP32 model, observers frozen half-way) for each learning rate of --learning-rates.
The learning rate is chosen on the full profile's 2,000 held-out training images, which QAT never trains on (the
smallest KL divergence to the FP32 model), never on the test set. The chosen model is converted to INT8 (CPU, qnnpack),
scored once on all 10,000 test images, and saved with its provenance; the tool prints its sha256 for
helpers/beyond_ptq.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from helpers import beyond_ptq, config, quantization  # noqa: E402
from helpers.data import Split, balanced_order, disjoint_subsets, load_cifar10, sha256_of  # noqa: E402
from helpers.envcheck import machine_record  # noqa: E402
from helpers.model import SHIPPED_MODEL_PATH, load_shipped_model  # noqa: E402
from helpers.training import accuracy_interval, predict  # noqa: E402
from records import git_commit  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=beyond_ptq.QAT_MODEL_PATH)
    parser.add_argument("--record", type=Path, default=None, help="also write the run's record (JSON) here")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.001, 0.002, 0.005])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (a smoke test on a CPU)")
    parser.add_argument("--test-images", type=int, default=None, help="default: all 10,000")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    device = config.default_device()
    profile = config.get_profile("full")
    dataset = load_cifar10(None)
    calibration, held_out = disjoint_subsets(dataset.train, [profile.calibration_images, profile.observer_selection_images])
    order = balanced_order(dataset.train.labels)  # the order disjoint_subsets takes its images in
    keep = np.ones(len(dataset.train), dtype=bool)
    keep[order[profile.calibration_images:profile.calibration_images + profile.observer_selection_images]] = False
    train = Split(dataset.train.images[keep], dataset.train.labels[keep])  # every training image but the held-out ones
    test = dataset.test if args.test_images is None else Split(dataset.test.images[:args.test_images], dataset.test.labels[:args.test_images])
    fp32, shipped = load_shipped_model()
    fused = quantization.fuse_for_quantization(fp32)
    fp32_top1 = predict(fused.to(device), test, 1000, device)
    ptq, _ = quantization.quantize_int8(fused.cpu(), beyond_ptq.narrow_weights_qconfig(), calibration)
    ptq_top1 = predict(ptq, test, 1000, "cpu", progress=True, description="PTQ INT8")
    print(f"FP32 {np.mean(fp32_top1 == test.labels):.4f}, PTQ {np.mean(ptq_top1 == test.labels):.4f} on {len(test):,} test images",
          flush=True)

    reference = beyond_ptq.logits(fused.to(device), held_out)
    steps = args.max_steps or int(args.epochs * -(-len(train) // args.batch_size))
    runs = []
    for learning_rate in args.learning_rates:
        run_started = time.perf_counter()
        model = beyond_ptq.prepare_for_qat(fp32, calibration)
        losses = beyond_ptq.fine_tune(model, fused, train, steps, args.batch_size, learning_rate, device)
        held_out_kl = beyond_ptq.kl_divergence(reference, beyond_ptq.logits(model, held_out))
        runs.append({"learning_rate": learning_rate, "steps": steps, "held_out_kl": held_out_kl, "first_loss": losses[0],
                     "last_loss": float(np.mean(losses[-20:])), "seconds": round(time.perf_counter() - run_started, 1),
                     "model": model})
        print({key: value for key, value in runs[-1].items() if key != "model"}, flush=True)
    chosen = min(runs, key=lambda run: run["held_out_kl"])
    int8 = beyond_ptq.convert_qat(chosen["model"])
    qat_top1 = predict(int8, test, 1000, "cpu", progress=True, description="QAT INT8")
    scores = {name: accuracy_interval(top1, test.labels) for name, top1 in (("fp32", fp32_top1), ("ptq", ptq_top1), ("qat", qat_top1))}
    loss = scores["fp32"][0] - scores["ptq"][0]
    recovered = (scores["qat"][0] - scores["ptq"][0]) / loss if loss > 0 else None  # None: PTQ lost nothing here
    provenance = {
        "made_by": "python tools/train_qat.py " + " ".join(argv), "git_commit": git_commit(), "machine": machine_record(),
        "setting": f"per-tensor symmetric weights on {beyond_ptq.WEIGHT_BITS} bits, notebook 02's activations",
        "shipped_model": {"file": SHIPPED_MODEL_PATH.name, "sha256": sha256_of(SHIPPED_MODEL_PATH), "commit": shipped.get("commit")},
        "data_source": dataset.source, "calibration_images": len(calibration), "qat_train_images": len(train),
        "chosen_on": f"KL divergence to FP32 on the {len(held_out):,} held-out training images (never trained on)",
        "runs": [{key: value for key, value in run.items() if key != "model"} for run in runs],
        "chosen_learning_rate": chosen["learning_rate"], "batch_size": args.batch_size,
        "test_images": len(test), "test_top1": {name: list(value) for name, value in scores.items()},
        "share_of_ptq_loss_recovered": recovered, "seconds": round(time.perf_counter() - started, 1),
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    quantization.save_int8_model(args.out, int8, provenance)
    if args.record:
        config.write_json(args.record, {**provenance, "file": args.out.name, "sha256": sha256_of(args.out),
                                        "bytes": args.out.stat().st_size})
    print(json.dumps({key: provenance[key] for key in ("chosen_learning_rate", "test_top1", "share_of_ptq_loss_recovered", "seconds")}))
    print(f"wrote {config.shown_path(args.out)} ({args.out.stat().st_size / 1e6:.1f} MB), sha256 {sha256_of(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
