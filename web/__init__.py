"""The web layer every app's views share: reading query parameters and form ids strictly
(params.py, forms.py), loading the execution a URL names and the one 404 page, htmx's
fragment-or-page answers (shortcuts.py), and the error pages Django itself raises
(views.py). It imports the mirror's models and nothing of browser/, actions/ or notify/,
so each of them may import it."""
