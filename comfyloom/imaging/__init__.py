"""Pillow (and numpy) image work for the CPU worker: WebP, chroma key, stickers, output checks.

Every function here is synchronous and CPU-bound: activities call them through `asyncio.to_thread`.
"""
