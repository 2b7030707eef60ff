"""Gradient averaging over two real gloo processes started by torchrun."""
import subprocess
import sys
import textwrap

import torch

WORKER = textwrap.dedent('''
    import sys
    import torch
    import torch.distributed as dist
    from modiste.train.dist import agree, average_gradients, init_from_env

    world, _ = init_from_env("cpu")
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.zero_()
    x = torch.full((1, 3), float(world.rank + 1))  # different data on each rank
    lin(x).sum().backward()
    average_gradients(list(lin.parameters()), world)
    stop = agree(world.rank == 1, world)
    torch.save({"w": lin.weight.grad, "b": lin.bias.grad, "stop": stop}, f"{sys.argv[1]}/{world.rank}.pt")
    dist.destroy_process_group()
''')


def test_gradients_are_averaged_and_flags_agreed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(script), str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    r0, r1 = (torch.load(tmp_path / f"{r}.pt") for r in (0, 1))
    assert torch.equal(r0["w"], r1["w"])
    assert torch.allclose(r0["w"], torch.full((2, 3), 1.5))  # mean of inputs 1 and 2
    assert torch.allclose(r0["b"], torch.ones(2))
    assert r0["stop"] is True and r1["stop"] is True
