import numpy as np
import pandas as pd

from grokglass.analysis.milestones import markdown_table, milestones, summarize
from grokglass.io import write_table


def _frame(train, test):
    n = len(train)
    return pd.DataFrame(
        {
            "step": np.arange(n) * 10,
            "train_acc": train,
            "test_acc": test,
            "weight_norm": np.linspace(40, 30, n),
            "ln_train_loss": -np.arange(n) * 1.0,
        }
    )


def test_milestones_first_crossings_and_censoring():
    m = milestones(_frame([0.1, 0.995, 1, 1, 1], [0.0, 0.2, 0.6, 0.96, 0.991]))
    assert (m["t_mem"], m["t_test50"], m["t_test95"], m["t_grok"]) == (10, 20, 30, 40)
    never = milestones(_frame([0.1, 0.5], [0.0, 0.1]))
    assert never["t_mem"] is None and never["t_grok"] is None and never["censored_at"] == 10


def test_summarize_reads_run_attributes(tmp_path):
    frame = _frame([0.5, 1.0], [0.1, 0.2])
    path = tmp_path / "r" / "metrics.h5"
    write_table(path, {c: frame[c].to_numpy() for c in frame}, {"run": '{"name": "r", "task": "add"}'})
    table = summarize([path])
    assert table.loc[0, "run"] == "r" and table.loc[0, "t_mem"] == 10
    assert "never" in markdown_table(table)
