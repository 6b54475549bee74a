"""The lecture's text of each page's walkthrough (its :class:`core.lessons.Step` list and explore views), one
module a page, pure data: the page imports its steps from here and keeps only the widgets and figures."""
