"""steepest's optimizers as torch.optim.Optimizer subclasses.

    steepest.optim.Muon(params, lr=0.02, momentum=0.95, orthogonalizer="polar-express")
    steepest.optim.make("htmuon", params, p=0.125)
    steepest.optim.Hybrid(model)            # hidden matrices: Muon; the rest: AdamW

`params` is what torch.optim takes (tensors, or dicts of param groups), or
(name, tensor) pairs such as model.named_parameters(): names appear in error
messages and in the hybrid's table. Keyword arguments are the optimizer's
hyperparameters (steepest.optimizers() lists them with their defaults); an
unknown one is a ValueError naming the valid keys.

step() runs the C++ step on the tensors themselves: parameters are updated
in place and their .grad read where it lies, with no copies. Learning rates
follow param_groups[i]["lr"] at every step (so torch.optim.lr_scheduler
works); every other hyperparameter is fixed when the optimizer is built.
"""
import json
import math

import torch

from . import _C

__all__ = ["SteepestOptimizer", "Hybrid", "make", "names"]

_INFOS = {info["name"]: info for info in _C.optimizers()}
_RESERVED = ("params", "names", "lr", "weight_decay")


def names():
    """Every optimizer name, in the registry's order."""
    return list(_INFOS)


def _info(name):
    if name not in _INFOS:
        raise ValueError(f"unknown optimizer '{name}'; known: {', '.join(_INFOS)}")
    return _INFOS[name]


def _as_groups(params):
    """torch.optim's params, or (name, tensor) pairs, as a list of group dicts
    with "params" (tensors) and "names"."""
    if isinstance(params, torch.Tensor):
        raise TypeError("params must be an iterable of tensors, (name, tensor) pairs or dicts, "
                        "not a single tensor; wrap it in a list")
    items = list(params)
    if not items:
        raise ValueError("the optimizer got an empty parameter list")
    if all(isinstance(g, dict) for g in items):
        groups = [dict(g) for g in items]
    else:
        groups = [{"params": items}]
    offset = 0
    for g in groups:
        ps = g["params"]
        ps = [ps] if isinstance(ps, torch.Tensor) else list(ps)
        if ps and all(isinstance(p, tuple) and len(p) == 2 for p in ps):
            g["names"] = [n for n, _ in ps]
            ps = [p for _, p in ps]
        else:
            g.setdefault("names", [f"param{offset + i}" for i in range(len(ps))])
        for n, p in zip(g["names"], ps):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"parameter '{n}' is a {type(p).__name__}, not a tensor")
        g["params"] = ps
        offset += len(ps)
    return groups


def _check_lr(value, where):
    """A learning rate must be a finite number >= 0 (as torch.optim requires):
    NaN or inf would turn every weight into NaN at the next step."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"{where} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_params(params_and_names, who):
    """Dense fp32/fp64/bf16 tensors (fp16 on CUDA only) on one device."""
    _one_device(params_and_names, who)
    for n, p in params_and_names:
        if p.layout != torch.strided or p.is_meta:
            raise ValueError(f"{who}: parameter '{n}' is a {p.layout} tensor on {p.device}; "
                             "steepest steps dense tensors")
        if p.dtype not in (torch.float32, torch.float64, torch.bfloat16) and not (
                p.dtype == torch.float16 and p.device.type == "cuda"):
            raise ValueError(f"{who}: parameter '{n}' is {p.dtype} on {p.device}; steepest steps "
                             "fp32, fp64 or bf16 parameters (fp16 on CUDA only). Cast the "
                             "model with .float() or .bfloat16() first")


def _one_device(params_and_names, who):
    seen = {}
    for n, p in params_and_names:
        seen.setdefault(p.device, n)
    if len(seen) > 1:
        where = ", ".join(f"'{n}' on {d}" for d, n in seen.items())
        raise ValueError(f"{who}: parameters on more than one device ({where}); build one "
                         "optimizer per device, or move the model with .to(device) first")


class SteepestOptimizer(torch.optim.Optimizer):
    """Registry optimizer `name` over `params`, one C++ optimizer per param group."""

    def __init__(self, name, params, lr=None, weight_decay=0.0, total_steps=0, **hyper):
        info = _info(name)
        self.name = name
        defaults = dict(hyper)
        who = f"steepest.optim.{type(self).__name__}"
        defaults["lr"] = info["lr"] if lr is None else _check_lr(lr, f"{who}: lr")
        defaults["weight_decay"] = _check_lr(weight_decay, f"{who}: weight_decay")
        super().__init__(_as_groups(params), defaults)
        for i, g in enumerate(self.param_groups):
            g["lr"] = _check_lr(g["lr"], f"{who}: param_groups[{i}]['lr']")
            g["weight_decay"] = _check_lr(g["weight_decay"],
                                          f"{who}: param_groups[{i}]['weight_decay']")
        _check_params([(n, p) for g in self.param_groups for n, p in zip(g["names"], g["params"])],
                      who)
        self._handles = []
        self._fixed = []
        for g in self.param_groups:
            h = {k: v for k, v in g.items() if k not in _RESERVED}
            self._handles.append(_C.Handle.single(
                name, list(zip(g["names"], g["params"])), float(g["lr"]), json.dumps(h),
                float(g["weight_decay"]), int(total_steps)))
            self._fixed.append({k: v for k, v in g.items() if k not in ("params", "lr")})
        self.state = _LiveState(self)

    def _check_fixed(self, i, g):
        fixed = self._fixed[i]
        # Keys others add (a scheduler's initial_lr) are theirs; a hyperparameter
        # of ours set after the fact is not applied, so it is refused.
        ours = set(_INFOS[self.name]["defaults"]) | {"weight_decay"}
        for k in sorted(set(fixed) | (set(g) & ours)):
            if g.get(k) != fixed.get(k):
                v = fixed.get(k)
                raise ValueError(f"param_groups[{i}]['{k}'] changed from {v!r} to {g.get(k)!r}; "
                                 "only 'lr' can change after the optimizer is built (build a new "
                                 "one for other hyperparameters)")

    @torch.no_grad()
    def step(self, closure=None):
        """One step of every group; closure (re-evaluating the loss with
        gradients) is called first, and its loss returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, (g, h) in enumerate(zip(self.param_groups, self._handles)):
            self._check_fixed(i, g)
        lrs = [_check_lr(g["lr"], f"param_groups[{i}]['lr']")
               for i, g in enumerate(self.param_groups)]
        for lr, h in zip(lrs, self._handles):
            for part in range(h.parts()):
                h.set_part_lr(part, lr)
            h.step()
        return loss

    def add_param_group(self, param_group):
        if hasattr(self, "_handles"):
            raise NotImplementedError("steepest optimizers take their param groups at "
                                      "construction; build a new optimizer")
        super().add_param_group(param_group)

    def table(self):
        """One line per parameter: shape, optimizer, lr, scale and why."""
        return "".join(h.table() for h in self._handles)

    def last_step_cost(self):
        """GEMMs and FLOPs of the last step (all groups)."""
        costs = [h.cost() for h in self._handles]
        return {k: sum(c[k] for c in costs) for k in ("gemms", "flops")}

    def state_bytes(self):
        return sum(h.state_bytes() for h in self._handles)

    def _param_index(self):
        return {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}

    def state_dict(self):
        """torch.optim's layout (state by parameter index, param_groups with
        indices) plus "steepest": the C++ state of each group as a torch archive,
        which is what load_state_dict() restores."""
        index = self._param_index()
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state[p]
                if s:
                    state[index[id(p)]] = s
        return {"optimizer": self.name, "state": state, "param_groups": groups,
                "steepest": [h.save() for h in self._handles]}

    def load_state_dict(self, state_dict):
        if state_dict.get("optimizer") != self.name or "steepest" not in state_dict:
            raise ValueError(f"this state_dict is not from steepest optimizer '{self.name}' "
                             f"(it names {state_dict.get('optimizer')!r})")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(saved, self.param_groups)):
            raise ValueError("the state_dict's param groups do not match this optimizer's "
                             f"({[len(s['params']) for s in saved]} parameters per group, "
                             f"here {[len(g['params']) for g in self.param_groups]})")
        for h, archive in zip(self._handles, state_dict["steepest"]):
            h.load(bytes(archive))
        for s, g in zip(saved, self.param_groups):
            g["lr"] = s["lr"]

    def __repr__(self):
        return f"steepest.optim.{type(self).__name__}({self.name})\n" + self.table()


class _LiveState:
    """optimizer.state[p]: the C++ state of p ({"step": n, buffers…}), live."""

    def __init__(self, opt):
        self._opt = opt

    def __getitem__(self, p):
        for h in self._opt._handles:
            s = h.state(p)
            if s:
                return dict(s)
        return {}

    def __contains__(self, p):
        return bool(self[p])

    def __iter__(self):
        return (p for g in self._opt.param_groups for p in g["params"] if self[p])

    def __len__(self):
        return sum(1 for _ in self)

    def items(self):
        return ((p, self[p]) for p in self)

    def values(self):
        return (self[p] for p in self)

    def keys(self):
        return iter(self)


class Hybrid(SteepestOptimizer):
    """The trainer's routing on a whole model: the hidden matrices go to
    `matrix` (a Muon-family or Stiefel optimizer), and embeddings
    (torch.nn.Embedding modules or names like wte/embed), the output head
    (head, lm_head) and every parameter under 2-D go to AdamW (lr adamw_lr,
    default 3e-3). A `matrix` name that is not a hidden-matrix optimizer
    optimizes every parameter. param_groups has one group per part; table()
    prints where each parameter went and why (the table `steepest train` prints)."""

    def __init__(self, model, matrix="muon", lr=None, adamw_lr=None, weight_decay=0.0,
                 total_steps=0, **hyper):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"Hybrid takes a torch.nn.Module, not {type(model).__name__}; use "
                            "steepest.optim.make(name, params) for a parameter list")
        info = _info(matrix)
        self.name = matrix
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("Hybrid: the model has no trainable parameters")
        _check_params(named, "steepest.optim.Hybrid")
        if lr is not None:
            lr = _check_lr(lr, "steepest.optim.Hybrid: lr")
        if adamw_lr is not None:
            adamw_lr = _check_lr(adamw_lr, "steepest.optim.Hybrid: adamw_lr")
        weight_decay = _check_lr(weight_decay, "steepest.optim.Hybrid: weight_decay")
        embedding = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding)
                     for p in m.parameters()}
        handle = _C.Handle.model(matrix, named, [id(p) in embedding for _, p in named],
                                 -1.0 if lr is None else float(lr),
                                 -1.0 if adamw_lr is None else float(adamw_lr),
                                 json.dumps(hyper), float(weight_decay), int(total_steps))
        name_of = {id(p): n for n, p in named}
        groups = []
        for part in range(handle.parts()):
            ps = handle.part_params(part)
            groups.append({"params": ps, "names": [name_of.get(id(p), "?") for p in ps],
                           "lr": handle.part_lr(part), "part": handle.part_key(part)})
        defaults = dict(hyper, lr=info["lr"] if lr is None else float(lr),
                        weight_decay=float(weight_decay))
        torch.optim.Optimizer.__init__(self, groups, defaults)
        self._handles = [handle]
        self._fixed = [{k: v for k, v in g.items() if k not in ("params", "lr")}
                       for g in self.param_groups]
        self.state = _LiveState(self)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        h = self._handles[0]
        lrs = []
        for i, g in enumerate(self.param_groups):
            self._check_fixed(i, g)
            lrs.append(_check_lr(g["lr"], f"param_groups[{i}]['lr']"))
        for i, lr in enumerate(lrs):
            h.set_part_lr(i, lr)
        h.step()
        return loss

    def load_state_dict(self, state_dict):
        if state_dict.get("optimizer") != self.name or "steepest" not in state_dict:
            raise ValueError(f"this state_dict is not from a steepest Hybrid('{self.name}') "
                             f"(it names {state_dict.get('optimizer')!r})")
        self._handles[0].load(bytes(state_dict["steepest"][0]))
        for s, g in zip(state_dict["param_groups"], self.param_groups):
            g["lr"] = s["lr"]


def _class_name(name):
    special = {"sgd": "SGD", "adamw": "AdamW", "signsgd": "SignSGD", "htmuon": "HTMuon",
               "dynmuon": "DynMuon", "mucon": "MuCon", "rmnp": "RMNP", "normuon": "NorMuon",
               "adamuon": "AdaMuon"}
    if name in special:
        return special[name]
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def _make_class(name):
    info = _INFOS[name]

    def __init__(self, params, lr=None, weight_decay=0.0, total_steps=0, **hyper):
        SteepestOptimizer.__init__(self, name, params, lr=lr, weight_decay=weight_decay,
                                   total_steps=total_steps, **hyper)

    doc = (f"steepest's '{name}': {info['formula']}\n\nNorm: {info['norm']}. Source: "
           f"{info['source']}.\nDefaults: lr={info['lr']:g}, " +
           ", ".join(f"{k}={v!r}" for k, v in info["defaults"].items()))
    return type(_class_name(name), (SteepestOptimizer,), {"__init__": __init__, "__doc__": doc,
                                                          "__module__": __name__})


for _name in _INFOS:
    _cls = _make_class(_name)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)


def make(name, params, **kwargs):
    """Optimizer `name` (steepest.optim.names()) over params, e.g.
    make("htmuon", model.parameters(), p=0.125)."""
    _info(name)
    return globals()[_class_name(name)](params, **kwargs)
