"""Recorded `/object_info` documents of real ComfyUI installations (see catalogue.py)."""
