"""Figure builders: data in, plotly/altair figure out. No Streamlit, no training.

One module per page family (``core.viz.bayes``, ...); shared styling lives in ``common``.
"""
