"""GenLab core: everything that is not Streamlit.

Importing ``core`` is cheap: heavy libraries (torch, diffusers, scikit-learn)
are imported inside the modules and functions that need them.
"""
