"""A bare Streamlit app, the load bench's reference: what Streamlit itself costs for GenLab's first views.

    .venv/bin/streamlit run bench/bare_app.py          # / = a title and text, /bayes = the NB page's two maps,
                                                       # /chart = one of them (the first-render reference)

Two pages behind ``st.navigation`` as GenLab's router has them: a home page of a title and a few lines of
text, and ``/bayes`` with the two plotly heatmaps GenLab's NB page opens with, read from
``bench/bare/nb_figures.json`` (saved from GenLab's own figure builder by ``bench/bare/make_nb_figures.py``).
No sidebar widgets, no URL state, no computation: the figures are parsed once per process
(``st.cache_resource``) and each open only sends them, so a GenLab open costs this plus its own work.
Query parameters are ignored, so a GenLab lesson link opens the same two maps here.
"""
import json
from pathlib import Path

import plotly.io as pio
import streamlit as st

FIGURES = Path(__file__).resolve().parent / "bare" / "nb_figures.json"


@st.cache_resource(show_spinner=False)
def nb_figures():
    return [pio.from_json(json.dumps(spec)) for spec in json.loads(FIGURES.read_text())]


def home():
    st.title("GenLab (bare)")
    st.markdown("A reference page: a title and some text, nothing computed. It measures what Streamlit "
                "itself costs to open a page, next to GenLab's home page.")


def bayes():
    st.title("Discriminative vs generative (bare)")
    nb, lr = nb_figures()
    a, b = st.columns(2)
    a.plotly_chart(nb, key="nb_map")
    b.plotly_chart(lr, key="lr_map")


def chart():
    st.title("One chart (bare)")
    st.plotly_chart(nb_figures()[0], key="nb_map")


st.set_page_config(page_title="GenLab bare reference", layout="wide")
st.navigation([st.Page(home, title="Home", default=True), st.Page(bayes, title="NB", url_path="bayes"),
               st.Page(chart, title="One chart", url_path="chart")]).run()
