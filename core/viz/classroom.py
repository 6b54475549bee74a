"""The class's answers as a bar chart (altair): a tally from core.questions in, a chart out. No Streamlit."""
from __future__ import annotations

import altair as alt
import pandas as pd

from core.viz.common import PALETTE


def answers_chart(tally: dict, revealed: bool) -> alt.Chart:
    """One horizontal bar per option (or panel, or number bin) with its count; after the reveal, the right
    ones are green and the others grey (before it, every bar has one colour: the chart gives nothing away)."""
    df = pd.DataFrame({"answer": tally["labels"], "students": tally["counts"], "right": tally["right"]})
    df["order"] = range(len(df))
    df["shade"] = ["right" if r else "other" for r in df["right"]] if revealed else "answers"
    colors = alt.Scale(domain=["right", "other", "answers"], range=["#2e7d32", "#b0b0b0", PALETTE[0]])
    top = max(1, int(df["students"].max()) if len(df) else 1)
    base = alt.Chart(df).encode(
        y=alt.Y("answer:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=220, labelOverlap=False, labelFontSize=14)),
        x=alt.X("students:Q", title="students", scale=alt.Scale(domain=[0, top * 1.15]),
                axis=alt.Axis(tickMinStep=1, format="d")))
    bars = base.mark_bar().encode(color=alt.Color("shade:N", scale=colors, legend=None), tooltip=["answer", "students"])
    counts = base.mark_text(align="left", dx=4, fontSize=14).encode(text="students:Q")
    return (bars + counts).properties(height=chart_height(tally)).configure_axis(labelFontSize=15, titleFontSize=14)


def chart_height(tally: dict) -> int:
    """Pixels: a bar of readable thickness per option, panel or bin."""
    return max(120, 36 * len(tally["labels"]))
