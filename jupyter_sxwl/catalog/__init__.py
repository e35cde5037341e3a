"""Datasets, models, images and code packages: formats, validation, versions, sharing."""
