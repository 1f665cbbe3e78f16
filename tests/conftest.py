import os

import pytest
import torch

# The machines are small (2 cores); keep torch from oversubscribing them in parallel tests.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root():
    return REPO
