#!/usr/bin/python3
"""The same training steps as `edge bench train`, in PyTorch (Debian's python3-torch), for the TorchSharp/PyTorch ratio.

Networks, shapes, loss, optimiser and warm-up match Training/TrainingBenchmark.cs and Training/Networks.cs:
  cnn: 2 x (conv3x3-BN-ReLU x2, maxpool2) on 28x28x1, dropout, Linear(64*7*7,128)-ReLU-dropout-Linear(128,10);
       cross-entropy, Adam 1e-3.
  gru: GRU(512 -> 128, batch_first) over 16 steps, Linear(128, 512) on the last step; MSE, Adam 1e-3.
Usage: peer_torch_train.py [--steps N] [--cnn-batch B] [--gru-batch B] [--threads T]
Prints one JSON line: {"cnn": seconds, "gru": seconds, "steps": N, "threads": T}.
"""
import argparse, json, time
import torch
from torch import nn


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(512, 128, 1, batch_first=True)
        self.head = nn.Linear(128, 512)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))


def time_steps(net, loss, steps, warmup=5):
    net.train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step():
        value = loss()
        opt.zero_grad()
        value.backward()
        opt.step()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cnn-batch", type=int, default=64)
    ap.add_argument("--gru-batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = cnn()
    x, y = torch.randn(a.cnn_batch, 1, 28, 28), torch.randint(0, 10, (a.cnn_batch,))
    cnn_s = time_steps(net, lambda: nn.functional.cross_entropy(net(x), y), a.steps)
    seq = Sequence()
    xs, ys = torch.randn(a.gru_batch, 16, 512), torch.randn(a.gru_batch, 512)
    gru_s = time_steps(seq, lambda: nn.functional.mse_loss(seq(xs), ys), a.steps)
    print(json.dumps({"cnn": round(cnn_s, 3), "gru": round(gru_s, 3), "steps": a.steps, "threads": a.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
