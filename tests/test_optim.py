"""The per-slot Adam + one-cycle schedule match torch.optim.Adam + OneCycleLR exactly."""

import torch

from fourier_masks.core.masks.optim import BatchedAdam, OneCycle


def _reference(target: torch.Tensor, steps: int, total: int) -> torch.Tensor:
    p = torch.ones_like(target, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=total, pct_start=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ((p - target) ** 2).sum().backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            p.clamp_(0, 1)
    return p.detach()


def test_one_cycle_matches_torch_including_beta1():
    total = 50
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=total, pct_start=0.1)
    cycle = OneCycle(0.3, total, 0.1)
    for step in range(total - 1):
        lr, beta1 = cycle.lr_beta1(torch.tensor([step]))
        assert abs(lr.item() - opt.param_groups[0]["lr"]) < 1e-12
        assert abs(beta1.item() - opt.param_groups[0]["betas"][0]) < 1e-12
        opt.step()
        sched.step()


def test_batched_adam_slots_follow_independent_runs():
    """In float64: the same algorithm, but float32 rounding of the bias corrections differs
    between the two implementations in the last bits, and 120 steps compound it."""
    torch.manual_seed(0)
    target = torch.randn(3, 4, 5, dtype=torch.float64)
    total = 200
    cycle = OneCycle(0.2, total, 0.1)
    p = torch.ones(3, 4, 5, dtype=torch.float64)
    adam = BatchedAdam(p)
    active = torch.tensor([True, True, True])
    for step in range(120):
        if step == 40:  # slot 1 gets a new problem, starting from scratch
            adam.reset(torch.tensor([1]))
        lr, beta1 = cycle.lr_beta1(adam.steps)
        adam.step(2 * (p - target), lr, beta1, active)
        p.clamp_(0, 1)
    assert torch.allclose(p[0], _reference(target[0], 120, total), atol=1e-12)
    assert torch.allclose(p[1], _reference(target[1], 80, total), atol=1e-12)


def test_inactive_slots_do_not_move():
    p = torch.ones(2, 3)
    adam = BatchedAdam(p)
    lr, beta1 = torch.full((2,), 0.1), torch.full((2,), 0.9)
    adam.step(torch.ones(2, 3), lr, beta1, torch.tensor([True, False]))
    assert torch.all(p[1] == 1) and torch.all(p[0] < 1)
    assert adam.steps.tolist() == [1, 0]
