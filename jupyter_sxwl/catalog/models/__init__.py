"""Base models: the preset list, downloads from Hugging Face compatible hubs, and the tiny
random-initialised model that is built locally so the platform can be tried on a CPU.

Nothing here imports torch or transformers at import time; the tiny model is built by
``python -m jupyter_sxwl.catalog.models.tiny DEST`` in a subprocess.
"""
