"""Figure 3: WanD vs AdamW on T1 (spec 7).

Panels: (a) WanD train/test accuracy vs step, (b) WanD weight norm vs step,
(c) WanD test accuracy vs weight norm, (d) AdamW train/test accuracy vs step.
Linear x axes (0 to the last step, or `xmax`).

CSV (<prefix>.csv): panel, title, series, step, accuracy, weight_norm.
Series: 'train' / 'test' (panels a, d: step and accuracy), 'weight norm'
(panel b: step and weight_norm), 'test' (panel c: accuracy against
weight_norm, with the step of each point).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from grokglass.figures import style
from grokglass.figures.common import (
    ACC_LABEL,
    STEP_LABEL,
    PathLike,
    accuracy_panel,
    load_metrics,
    new_figure,
    save_figure,
    tag_panel,
)
from grokglass.figures.style import figure_style

TITLES = ("(a) WanD", "(b) WanD weight norm", "(c) WanD test accuracy vs norm", "(d) AdamW")


def _accuracy_rows(d: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame({"series": s, "step": d["step"], "accuracy": d[c], "weight_norm": float("nan")})
            for s, c in (("train", "train_acc"), ("test", "test_acc"))
        ],
        ignore_index=True,
    )


def fig3(
    wand_metrics: PathLike,
    adamw_metrics: PathLike,
    out_prefix: PathLike,
    xmax: float | None = None,
    titles: tuple[str, str, str, str] = TITLES,
) -> Figure:
    """WanD accuracy, weight norm and accuracy-vs-norm, and AdamW accuracy (2 x 2 panels)."""
    wand = load_metrics(wand_metrics, ("step", "train_acc", "test_acc", "weight_norm"))
    adamw = load_metrics(adamw_metrics)
    if xmax is not None:
        wand = wand[wand["step"] <= xmax]
    with figure_style():
        fig, axes = new_figure(2, 2)
        ax_a, ax_b, ax_c, ax_d = axes.ravel()
        tables = []

        a = accuracy_panel(ax_a, wand, titles[0], xmax=xmax)
        tables.append(tag_panel(_accuracy_rows(a), "a", titles[0]))

        ax_b.plot(wand["step"], wand["weight_norm"], color=style.NORM_COLOR, lw=1.4)
        ax_b.set_xlim(0, xmax if xmax is not None else max(float(wand["step"].max()), 1.0))
        ax_b.set_xlabel(STEP_LABEL)
        ax_b.set_ylabel("weight norm")
        ax_b.set_title(titles[1])
        tables.append(
            tag_panel(
                pd.DataFrame(
                    {
                        "series": "weight norm",
                        "step": wand["step"],
                        "accuracy": float("nan"),
                        "weight_norm": wand["weight_norm"],
                    }
                ),
                "b",
                titles[1],
            )
        )

        ax_c.plot(wand["weight_norm"], wand["test_acc"], color=style.TEST_COLOR, lw=1.2)
        ax_c.set_ylim(-0.02, 1.02)
        ax_c.set_xlabel("weight norm")
        ax_c.set_ylabel("test " + ACC_LABEL)
        ax_c.set_title(titles[2])
        tables.append(
            tag_panel(
                pd.DataFrame(
                    {
                        "series": "test",
                        "step": wand["step"],
                        "accuracy": wand["test_acc"],
                        "weight_norm": wand["weight_norm"],
                    }
                ),
                "c",
                titles[2],
            )
        )

        d = accuracy_panel(ax_d, adamw, titles[3], xmax=xmax)
        tables.append(tag_panel(_accuracy_rows(d), "d", titles[3]))

        save_figure(fig, out_prefix, pd.concat(tables, ignore_index=True))
    return fig
