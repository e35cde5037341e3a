"""The model server: an OpenAI-compatible HTTP API over a causal language model, with
concurrent requests batched into one forward per decoding step.

``python -m jupyter_sxwl.runtime.serve [SERVE.json]``; see :mod:`.config` for the settings.
"""
