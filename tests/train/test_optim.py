import torch

from modiste.nn import checkpoint
from modiste.train.optim import load_optimizer, optimizer_tensors


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 3)).to(memory_format=torch.channels_last)


def _step(model, opt, seed):
    torch.manual_seed(seed)
    x = torch.randn(2, 3, 9, 9).contiguous(memory_format=torch.channels_last)
    opt.zero_grad()
    model(x).square().mean().backward()
    opt.step()


def test_round_trip_continues_exactly_with_channels_last_and_fused_adam(tmp_path):
    a = _model()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=True)
    for s in range(3):
        _step(a, opt_a, s)
    tensors, meta = optimizer_tensors(opt_a, "opt")
    # through a real file: checkpoints store contiguous tensors, the loader restores the layout
    tensors, meta = checkpoint.read(checkpoint.save(tmp_path / "opt", tensors, meta))

    b = _model()
    b.load_state_dict(a.state_dict())
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=True)
    load_optimizer(opt_b, tensors, meta, "opt")
    for s in range(3, 6):
        _step(a, opt_a, s)
        _step(b, opt_b, s)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert opt_b.param_groups[0]["betas"] == (0.5, 0.999)
