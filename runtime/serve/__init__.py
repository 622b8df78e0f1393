"""``edgedet serve``: the detector as an HTTP service (FastAPI on uvicorn, the ``serve`` extra).

``app.build_app`` puts the pieces together: ``access`` (who may bind where, the bearer token), ``upload``
(request bodies into checked images), ``batcher`` (concurrent requests into one inference call) and
``metrics`` (Prometheus). Torch-free like the rest of the runtime."""
