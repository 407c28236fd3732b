#!/usr/bin/env python3
"""A sluice `command` trainer: logistic regression (softmax) or linear regression in PyTorch.

sluice runs it as  python3 torch_logistic.py --manifest <manifest.json> --output <model.onnx> --seed <n>
with CUDA_VISIBLE_DEVICES set to the one GPU it may use ('' on a worker without one). It reads the
float32 .npy matrices the manifest names (no pyarrow needed), trains on CUDA when
torch.cuda.is_available() and on the CPU otherwise, prints one JSON progress line per epoch on
stdout, and exports an ONNX model that takes sluice's raw inputs: `numeric` float32 [N, d] in the
manifest's numericFeatures order (standardisation with the manifest's mean/std is inside the
model), and gives `label` (int64 class index) and `probabilities` (float32 [N, classes]), or
`label` (float32) for regression. sluice checks the model and adds its metadata.

Numeric features only: torch cannot export string inputs, so a dataset with categorical features
is refused (exit 2) rather than trained on a part of its columns.

Parameters (manifest "params"): epochs (50), learningRate (0.05), l2 (1e-4), batchSize (256),
checkpointEveryEpochs (5; 0: never), epochSleepSeconds (0; slows each epoch down, for crash tests).
Seeded; on the CPU the same manifest and seed give the same model (torch deterministic algorithms).

Checkpoints: every checkpointEveryEpochs epochs it writes model, optimiser and shuffling state to
SLUICE_CHECKPOINT_DIR (a new file each time, renamed into place) and names it in that epoch's
progress line; sluice stores it. When sluice retries the run after a worker crash it sets
SLUICE_RESUME_FROM to the last stored checkpoint, and training goes on from the epoch after it, to
the same model as an uninterrupted run.
"""
import argparse
import inspect
import json
import os
import sys
import time

import numpy as np
import torch


def progress(**fields):
    print(json.dumps(fields), flush=True)


class RawInputModel(torch.nn.Module):
    """Standardisation + one linear layer (+ softmax and argmax for classification), on raw values."""

    def __init__(self, mean, std, width, classes, task):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.task = task
        self.linear = torch.nn.Linear(width, 1 if task == "regression" else classes)

    def logits(self, numeric):
        return self.linear((numeric - self.mean) / self.std)

    def forward(self, numeric):
        out = self.logits(numeric)
        if self.task == "regression":
            return out.reshape(-1)
        probabilities = torch.softmax(out, dim=1)
        return torch.argmax(probabilities, dim=1), probabilities


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest["categoricalFeatures"]:
        names = [c["name"] for c in manifest["categoricalFeatures"]]
        print(f"torch_logistic.py supports numeric features only; the dataset has categorical ones: {names}", file=sys.stderr)
        return 2
    if not manifest["numericFeatures"]:
        print("torch_logistic.py needs at least one numeric feature", file=sys.stderr)
        return 2

    params = manifest.get("params") or {}
    epochs = int(params.get("epochs", 50))
    learning_rate = float(params.get("learningRate", 0.05))
    l2 = float(params.get("l2", 1e-4))
    batch_size = int(params.get("batchSize", 256))
    checkpoint_every = int(params.get("checkpointEveryEpochs", 5))
    epoch_sleep = float(params.get("epochSleepSeconds", 0))
    checkpoint_dir = os.environ.get("SLUICE_CHECKPOINT_DIR")
    resume_from = os.environ.get("SLUICE_RESUME_FROM")
    task = manifest["task"]
    classes = len(manifest["classes"] or [])

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)

    def load(split):
        files = manifest["splits"][split]
        X = torch.from_numpy(np.load(files["X"])).to(device)
        y = torch.from_numpy(np.load(files["y"])).to(device)
        return X, (y if task == "regression" else y.long())

    X_train, y_train = load("train")
    X_val, y_val = load("validation")
    scaling = manifest["standardisation"]
    model = RawInputModel([s["mean"] for s in scaling], [s["std"] for s in scaling], X_train.shape[1], classes, task).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=l2)
    loss_of = torch.nn.MSELoss() if task == "regression" else torch.nn.CrossEntropyLoss()

    def objective(X, y):
        out = model.logits(X)
        return loss_of(out.reshape(-1), y) if task == "regression" else loss_of(out, y)

    first_epoch = 1
    if resume_from:
        state = torch.load(resume_from, map_location=device)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        first_epoch = state["epoch"] + 1
        print(f"resuming after epoch {state['epoch']} from {resume_from}", file=sys.stderr)

    def save_checkpoint(epoch):
        name = f"epoch-{epoch}.pt"
        partial = os.path.join(checkpoint_dir, f".{name}.partial")
        torch.save(
            {"epoch": epoch, "model": model.state_dict(), "optimiser": optimiser.state_dict(), "rng": rng.bit_generator.state},
            partial,
        )
        os.replace(partial, os.path.join(checkpoint_dir, name))
        return name

    n = X_train.shape[0]
    for epoch in range(first_epoch, epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(n)).to(device)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            optimiser.zero_grad()
            loss = objective(X_train[rows], y_train[rows])
            loss.backward()
            optimiser.step()
            total += loss.item() * rows.shape[0]
        model.eval()
        line = {"epoch": epoch, "loss": total / n, "device": device.type}
        if X_val.shape[0] > 0:
            with torch.no_grad():
                if task == "regression":
                    line["valMetric"] = float(torch.sqrt(torch.mean((model(X_val) - y_val) ** 2)))
                    line["valMetricName"] = "rmse"
                else:
                    line["valMetric"] = float((model(X_val)[0] == y_val).float().mean())
                    line["valMetricName"] = "accuracy"
        if checkpoint_dir and checkpoint_every > 0 and epoch % checkpoint_every == 0 and epoch < epochs:
            line["checkpoint"] = save_checkpoint(epoch)
        progress(**line)
        if epoch_sleep > 0:
            time.sleep(epoch_sleep)

    model = model.to("cpu").eval()
    example = torch.zeros(2, X_train.shape[1], dtype=torch.float32)
    outputs = ["label"] if task == "regression" else ["label", "probabilities"]
    export_args = dict(
        input_names=["numeric"],
        output_names=outputs,
        dynamic_axes={"numeric": {0: "N"}, **{name: {0: "N"} for name in outputs}},
        opset_version=17,
    )
    # torch >= 2.5 defaults to the dynamo exporter (needs onnxscript); the TorchScript one is enough here.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        export_args["dynamo"] = False
    torch.onnx.export(model, (example,), args.output, **export_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
