"""The HTTP API: a FastAPI app over nebulastream.query (routers, models, dependencies)."""
