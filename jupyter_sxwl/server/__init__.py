"""The Jupyter server extension: the lab's door to the platform."""
