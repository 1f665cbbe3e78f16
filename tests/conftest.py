import os

import pytest
import torch

# The machines are small (2 cores); keep torch from oversubscribing them in parallel tests.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root():
    return REPO


@pytest.fixture
def one_thread():
    """Tiny tensors run fastest (and steadiest on a busy 2-core machine) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
