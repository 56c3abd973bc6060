"""The HTTP service: FastAPI app (`app.create_app`), `ldncds serve`, security, logs, metrics, workers."""
