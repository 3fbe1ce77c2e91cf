"""`import steepest` against independent pure-PyTorch renderings of the
published algorithms, and the torch.optim contract (in-place steps, closures,
state_dict, errors). Run by ctest (python.pytest) with PYTHONPATH=build/python."""
import copy
import io
import math

import pytest
import torch

import steepest

KELLER = (3.4445, -4.7750, 2.0315)  # KellerJordan/Muon's quintic coefficients


def keller_ns(G, steps=5, eps=1e-7, dtype=torch.float32):
    """KellerJordan/Muon's zeropower_via_newtonschulz5, in `dtype`: X/‖X‖_F on
    the wide orientation, then X ← aX + (bA + cA²)X with A = XXᵀ."""
    a, b, c = KELLER
    X = G.to(dtype)
    tall = X.size(0) > X.size(1)
    if tall:
        X = X.T
    X = X / (X.norm() + eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return (X.T if tall else X).to(G.dtype)


def muon_reference_step(p, grad, buf, lr, momentum=0.95, nesterov=True, wd=0.0,
                        ns_dtype=torch.float32):
    """One step of the published Muon (REFERENCE: KellerJordan/Muon), conv
    weights flattened to (out, in·k·k), scale √max(1, m/n)."""
    buf.lerp_(grad, 1 - momentum)
    u = grad.lerp(buf, momentum) if nesterov else buf
    u2 = u.reshape(u.size(0), -1)
    O = keller_ns(u2, dtype=ns_dtype).view_as(p)
    scale = math.sqrt(max(1.0, u2.size(0) / u2.size(1)))
    p.mul_(1 - lr * wd).add_(O, alpha=-lr * scale)


@pytest.mark.parametrize("shape", [(8, 4), (4, 8), (32, 32), (48, 16), (6, 3, 3, 3)])
def test_muon_step_matches_the_published_algorithm(shape):
    """Three steps (momentum carries over); before each, W is zeroed and lr is
    1, so that W after the step is the update −scale·O itself, entries of
    order 1, compared without the rounding of adding it to W."""
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.zeros(shape))
    buf = torch.zeros(shape)
    opt = steepest.optim.Muon([W], lr=1.0, orthogonalizer="ns-keller", dtype="fp32")
    ptr = W.data_ptr()
    for _ in range(3):
        g = torch.randn(shape)
        W.grad = g.clone()
        with torch.no_grad():
            W.zero_()
        opt.step()
        ref = torch.zeros(shape)
        muon_reference_step(ref, g, buf, lr=1.0)
        assert (W.detach() - ref).abs().max().item() <= 1e-5
    assert W.data_ptr() == ptr  # stepped in place
    # The same lerp, rounded by a fused loop instead of at::lerp: within 1e-7.
    assert (opt.state[W]["momentum_buffer"] - buf).abs().max().item() <= 1e-7


def test_default_gram_orthogonalizer_is_within_fp32_rounding_of_plain_ns():
    torch.manual_seed(1)
    G = torch.randn(64, 16)
    gram = steepest.orthogonalize(G, method="keller", dtype="fp32")
    plain = keller_ns(G)
    assert (gram - plain).abs().max().item() <= 1e-4


def torch_optim_muon_step(p, grad, buf, lr, wd, momentum=0.95, eps=1e-7, ns_dtype=torch.bfloat16):
    """torch.optim.Muon (PyTorch >= 2.9) on one 2-D parameter, written out:
    lerp momentum, Nesterov, NS5 (bf16 in PyTorch) on the wide orientation
    with the norm clamped at eps, decoupled weight decay lr·wd, adjusted lr
    √max(1, A/B)."""
    buf.lerp_(grad, 1 - momentum)
    u = grad.lerp(buf, momentum)
    a, b, c = KELLER
    X = u.to(ns_dtype)
    tall = u.size(0) > u.size(1)
    if tall:
        X = X.T
    X = X / X.norm().clamp(min=eps)
    for _ in range(5):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    if tall:
        X = X.T
    p.mul_(1 - lr * wd)
    p.add_(X.float(), alpha=-lr * math.sqrt(max(1.0, p.size(0) / p.size(1))))


def test_pytorch_muon_test_vector():
    """Seed 42, 8×4, lr 0.02, wd 0.1, momentum 0.95, 5 steps.

    - The momentum buffer sees the same gradients through the same lerp:
      within 1e-7.
    - Ours in fp32 against the same algorithm in fp32: within 1e-6 (measured
      2.4e-7).
    - Ours in fp32 against PyTorch's bf16 NS: within 2e-3, the bf16 rounding
      of the NS itself (the rendering's own fp32-vs-bf16 gap on this vector is
      1.50e-3).
    - Ours in bf16 against PyTorch's bf16: within 1e-2; both round
      independently in bf16 (8 mantissa bits), and Keller's NS does not
      converge but keeps σ in [0.7, 1.2], so per-entry differences in O of a
      few percent, times lr·√2 over 5 steps, add up to this (measured
      3.4e-3 here)."""
    results = {}
    for dtype in ("fp32", "bf16"):
        torch.manual_seed(42)
        W = torch.nn.Parameter(torch.randn(8, 4))
        ref16, ref32 = W.detach().clone(), W.detach().clone()
        buf16, buf32 = torch.zeros(8, 4), torch.zeros(8, 4)
        opt = steepest.optim.make("muon", [W], lr=0.02, weight_decay=0.1, momentum=0.95,
                                  dtype=dtype, orthogonalizer="ns-keller")
        for _ in range(5):
            g = torch.randn(8, 4)
            W.grad = g.clone()
            opt.step()
            torch_optim_muon_step(ref16, g, buf16, lr=0.02, wd=0.1)
            torch_optim_muon_step(ref32, g, buf32, lr=0.02, wd=0.1, ns_dtype=torch.float32)
        assert (opt.state[W]["momentum_buffer"] - buf16).abs().max().item() <= 1e-7
        results[dtype] = (W.detach() - ref32).abs().max().item(), \
            (W.detach() - ref16).abs().max().item()
    assert results["fp32"][0] <= 1e-6
    assert results["fp32"][1] <= 2e-3
    assert results["bf16"][1] <= 1e-2


def mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                               torch.nn.ReLU(), torch.nn.Linear(32, 4))


def synthetic_task(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    teacher = torch.randn(16, 4, generator=g)
    return x, (x @ teacher).argmax(1)


# Hidden-matrix optimizers take the MLP through Hybrid (their 1-D biases go to
# AdamW); the others take every parameter.
@pytest.mark.parametrize("name", steepest.optim.names())
def test_every_optimizer_trains_an_mlp(name):
    info = {i["name"]: i for i in steepest.optimizers()}[name]
    model = mlp(0)
    x, y = synthetic_task()
    opt = (steepest.optim.Hybrid(model, matrix=name, total_steps=60) if info["hidden_matrices"]
           else steepest.optim.make(name, model.named_parameters(), total_steps=60))
    loss_fn = torch.nn.CrossEntropyLoss()
    first = loss_fn(model(x), y).item()
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    last = loss_fn(model(x), y).item()
    assert math.isfinite(last)
    # At each optimizer's default lr: Lion's 1e-4 moves least (-5% here).
    assert last < 0.97 * first, f"{name}: loss {first:.3f} -> {last:.3f}"


def test_closure_is_called_and_its_loss_returned():
    model = mlp(1)
    x, y = synthetic_task()
    opt = steepest.optim.Hybrid(model)
    calls = []

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        calls.append(loss.item())
        return loss

    loss = opt.step(closure)
    assert len(calls) == 1 and loss.item() == calls[0]


def train_steps(model, opt, steps, seed):
    x, y = synthetic_task(seed)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("kind", ["hybrid", "single"])
def test_state_dict_round_trips_bit_for_bit(kind):
    def build(model):
        if kind == "hybrid":
            return steepest.optim.Hybrid(model, matrix="muon")
        return steepest.optim.make("lion", model.parameters())

    a = mlp(2)
    opt_a = build(a)
    train_steps(a, opt_a, 3, seed=1)
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    b = copy.deepcopy(a)
    opt_b = build(b)
    buffer.seek(0)
    opt_b.load_state_dict(torch.load(buffer))
    train_steps(a, opt_a, 2, seed=2)
    train_steps(b, opt_b, 2, seed=2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert opt_a.state_dict()["state"].keys() == opt_b.state_dict()["state"].keys()


def test_lr_schedulers_drive_the_cpp_learning_rate():
    W = torch.nn.Parameter(torch.randn(8, 8))
    opt = steepest.optim.Muon([W], lr=0.02)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.0)
    W.grad = torch.randn(8, 8)
    opt.step()
    sched.step()  # lr → 0
    before = W.detach().clone()
    opt.step()
    assert torch.equal(W.detach(), before)
    opt.param_groups[0]["momentum"] = 0.5
    with pytest.raises(ValueError, match="only 'lr' can change"):
        opt.step()


def test_hybrid_routes_by_role_and_prints_the_table():
    model = torch.nn.ModuleDict({"tok": torch.nn.Embedding(50, 16), "fc": torch.nn.Linear(16, 16),
                                 "lm_head": torch.nn.Linear(16, 50, bias=False)})
    opt = steepest.optim.Hybrid(model, lr=0.03, adamw_lr=0.001)
    table = opt.table()
    lines = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}
    assert "embedding module" in lines["tok.weight"] and "adamw" in lines["tok.weight"]
    assert "hidden matrix" in lines["fc.weight"] and "muon" in lines["fc.weight"]
    assert "adamw" in lines["lm_head.weight"] and "1-D" in lines["fc.bias"]
    assert [g["part"] for g in opt.param_groups] == ["muon", "adamw"]
    assert [g["lr"] for g in opt.param_groups] == [0.03, 0.001]


def test_errors_are_python_exceptions_with_our_messages():
    W = torch.nn.Parameter(torch.randn(4, 4))
    with pytest.raises(ValueError, match="Muon orthogonalizes matrices only"):
        steepest.optim.Muon([("bias", torch.nn.Parameter(torch.randn(4)))])
    with pytest.raises(ValueError, match="unknown optimizer 'muonn'"):
        steepest.optim.make("muonn", [W])
    with pytest.raises(ValueError, match="has no option 'momentun'"):
        steepest.optim.Muon([W], momentun=0.9)
    opt = steepest.optim.Muon([("w", W)])
    W.grad = torch.full((4, 4), float("nan"))
    before = W.detach().clone()
    with pytest.raises(RuntimeError, match="non-finite gradient .* parameter 'w'"):
        opt.step()
    assert torch.equal(W.detach(), before)
    with pytest.raises(ValueError, match="unknown"):
        steepest.orthogonalize(torch.randn(4, 4), method="kellr")


def test_gradients_of_another_dtype_or_device_are_refused_clearly():
    W = torch.nn.Parameter(torch.randn(4, 4))
    opt = steepest.optim.Muon([("w", W)])
    W.grad = torch.randn(4, 4)
    W.grad.data = torch.randn(4, 4, dtype=torch.float64)  # .data skips PyTorch's own check
    with pytest.raises(ValueError, match="'w' is Double on cpu but the parameter is Float"):
        opt.step()
    meta = torch.nn.Parameter(torch.empty(4, 4, device="meta"))
    with pytest.raises(ValueError, match="more than one device"):
        steepest.optim.Muon([("w", W), ("m", meta)])


def test_parameters_of_mixed_dtypes_each_step_in_their_own():
    torch.manual_seed(3)
    a = torch.nn.Parameter(torch.randn(8, 4))
    b = torch.nn.Parameter(torch.randn(8, 4, dtype=torch.float64))
    opt = steepest.optim.Muon([a, b], dtype="fp32", orthogonalizer="ns-keller")
    a.grad = torch.randn(8, 4)
    b.grad = a.grad.double()
    a0, b0 = a.detach().clone(), b.detach().clone()
    opt.step()
    assert a.dtype == torch.float32 and b.dtype == torch.float64
    assert ((a - a0).double() - (b - b0)).abs().max().item() <= 1e-6


def test_functions():
    torch.manual_seed(4)
    G = torch.randn(32, 16, dtype=torch.float64)
    O = steepest.orthogonalize(G, method="svd")
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    assert (O - U @ Vh).abs().max().item() <= 1e-10
    D = steepest.dualize(G, norm="row-l2")
    assert (D.norm(dim=1) - 1).abs().max().item() <= 1e-12
    assert (steepest.dualize(G, norm="linf") - G.sign()).abs().max().item() == 0
    names = [o["name"] for o in steepest.optimizers()]
    assert {"muon", "adamw", "htmuon", "rmnp", "mucon"} <= set(names)
    assert "polar-express" in steepest.orthogonalizer_names()
    assert "spectral" in steepest.norm_names()


# Issue #25: hostile uses of the Python API, each a clear exception of the
# right type naming what is wrong, never a crash or a silent wrong step.
def _grown(opt_name):
    A = torch.nn.Parameter(torch.randn(8, 4))
    opt = steepest.optim.make(opt_name, [("A", A)])
    A.grad = torch.randn(8, 4)
    opt.step()
    return A, opt


@pytest.mark.parametrize("name", ["muon", "adamw", "sgd", "lion"])
@pytest.mark.parametrize("shape", [(16, 4), (4, 4), (4, 8), (128, 64)])
def test_a_parameter_changed_after_its_first_step_is_refused(name, shape):
    A, opt = _grown(name)
    A.data = torch.randn(*shape)
    A.grad = torch.randn(*shape)
    with pytest.raises(ValueError, match="parameter 'A' is now .* no longer fits"):
        opt.step()


BAD_INPUTS = [
    # (what, callable, exception type, message pattern)
    ("lr nan", lambda W: steepest.optim.Muon([W], lr=float("nan")), ValueError,
     "lr must be a finite number >= 0"),
    ("lr inf", lambda W: steepest.optim.Muon([W], lr=float("inf")), ValueError,
     "lr must be a finite number >= 0"),
    ("lr negative", lambda W: steepest.optim.SGD([W], lr=-0.1), ValueError,
     "lr must be a finite number >= 0"),
    ("lr a string", lambda W: steepest.optim.SGD([W], lr="0.1"), TypeError,
     "lr must be a number"),
    ("weight_decay nan", lambda W: steepest.optim.AdamW([W], weight_decay=float("nan")),
     ValueError, "weight_decay must be a finite number"),
    ("fp16 on the CPU", lambda W: steepest.optim.Muon([W.detach().half()]), ValueError,
     "fp16 on CUDA only"),
    ("int parameter", lambda W: steepest.optim.AdamW([torch.zeros(3, 3, dtype=torch.long)]),
     ValueError, "steepest steps fp32, fp64 or bf16"),
    ("sparse parameter", lambda W: steepest.optim.AdamW([W.detach().to_sparse()]), ValueError,
     "dense"),
    ("threads 10**6", lambda W: steepest.set_threads(10 ** 6), ValueError,
     r"thread count must be in \[1, 1024\]"),
    ("threads 0", lambda W: steepest.set_threads(0), ValueError, "thread count"),
    ("orthogonalize steps 10**7", lambda W: steepest.orthogonalize(torch.randn(4, 4), steps=10 ** 7),
     ValueError, "steps must be <= 1000"),
]


@pytest.mark.parametrize("what,make,exc,pattern", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_raise_our_clear_errors(what, make, exc, pattern):
    W = torch.nn.Parameter(torch.randn(8, 4))
    with pytest.raises(exc, match=pattern):
        make(W)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_an_lr_set_to_nan_inf_or_negative_during_training_is_refused(value):
    A, opt = _grown("muon")
    before = A.detach().clone()
    opt.param_groups[0]["lr"] = value
    A.grad = torch.randn(8, 4)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\] must be a finite"):
        opt.step()
    assert torch.equal(A.detach(), before)


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_a_gradient_of_another_shape_is_refused_not_broadcast(name):
    W = torch.nn.Parameter(torch.randn(8, 4))
    opt = steepest.optim.make(name, [("W", W)])
    W.grad = torch.randn(8, 4)
    W.grad.data = torch.randn(4)  # .data skips PyTorch's own shape check
    before = W.detach().clone()
    with pytest.raises(ValueError, match=r"'W' has shape \[4\] but the parameter has shape"):
        opt.step()
    assert torch.equal(W.detach(), before)


def test_threads_stepping_one_optimizer_are_serialized():
    import threading
    for name in ("adamw", "muon"):
        Ps = [torch.nn.Parameter(torch.randn(16, 16)) for _ in range(32)]
        for p in Ps:
            p.grad = torch.randn(16, 16)
        for _ in range(10):
            opt = steepest.optim.make(name, Ps)
            threads = [threading.Thread(target=opt.step) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert opt.state[Ps[0]]["step"] == 4


def test_a_damaged_state_dict_is_refused():
    A, opt = _grown("muon")
    sd = opt.state_dict()
    blob = bytearray(sd["steepest"][0])
    refused = 0
    import random
    rng = random.Random(5)
    for _ in range(60):
        damaged = bytearray(blob)
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(len(damaged))
            damaged[i] ^= 1 << rng.randrange(8)
        fresh = steepest.optim.make("muon", [("A", A)])
        copy_sd = dict(sd, steepest=[bytes(damaged)])
        try:
            fresh.load_state_dict(copy_sd)
        except ValueError as e:
            assert "damaged" in str(e)
            refused += 1
            continue
        # Accepted: then the flip must have been in bytes the seal does not
        # cover, and the state must be exactly the saved one.
        assert torch.equal(fresh.state[A]["momentum_buffer"], opt.state[A]["momentum_buffer"])
    assert refused >= 55
