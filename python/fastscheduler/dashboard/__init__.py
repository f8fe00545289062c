"""The dashboard's pieces: the live-update hub (:mod:`.hub`), the API's models (:mod:`.schemas`)
and the page (``index.html``, package data). The routes are in
:mod:`fastscheduler.fastapi_integration`; only :mod:`.schemas` needs pydantic, and nothing here is
imported by ``import fastscheduler``."""
