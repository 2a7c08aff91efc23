"""Shared code for the pipeline's stages: each module has one job."""
