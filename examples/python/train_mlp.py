#!/usr/bin/env python3
"""Train a small MLP with steepest's optimizers from PyTorch.

    make python
    PYTHONPATH=build/python /usr/bin/python3 examples/python/train_mlp.py [--optimizer muon]

A 2-hidden-layer MLP learns a random linear teacher's argmax on synthetic
data. steepest.optim.Hybrid sends the hidden matrices to the chosen
optimizer (Muon by default) and the rest to AdamW, and prints where each
parameter went; a cosine schedule from torch.optim drives the learning rates.
"""
import argparse

import torch

import steepest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--optimizer", default="muon",
                    help="any of: " + ", ".join(steepest.optim.names()))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=None, help="default: the optimizer's own")
    args = ap.parse_args()

    torch.manual_seed(0)
    x = torch.randn(2048, 32)
    y = (x @ torch.randn(32, 10)).argmax(1)
    model = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))

    opt = steepest.optim.Hybrid(model, matrix=args.optimizer, lr=args.lr, total_steps=args.steps)
    print(opt.table())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)
    for step in range(1, args.steps + 1):
        batch = torch.randint(0, len(x), (128,))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        opt.step()
        schedule.step()
        if step % 50 == 0 or step == 1:
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    torch.save(opt.state_dict(), "/tmp/steepest_mlp_optimizer.pt")  # reload with load_state_dict


if __name__ == "__main__":
    main()
