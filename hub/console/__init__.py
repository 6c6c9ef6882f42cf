"""The web console: operators and auditors see and act on the hub without a terminal (docs/console.md).

Server-rendered (FastAPI routes, Jinja2 templates, no script and no front-end build), mounted under
``/console`` by ``intake/rest.py``. ``users.py`` keeps the people who may sign in and their sessions,
``cli.py`` is ``hub users``, ``queries.py`` reads what the pages show, ``router.py`` serves them,
``i18n.py`` holds their words in Vietnamese and English.
"""
