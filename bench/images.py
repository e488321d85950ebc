"""WebP encoding of our image kinds: PNG size, WebP size, reduction and encode time per setting, and the same
against Node's `sharp` (libvips) when `node` is on PATH. Then output moderation: the classifier's load time and
memory, and its time per image on the published WebP (decode, sticker over white, score), against the 200 ms
target on one core.

    .venv/bin/python bench/images.py [--repeats 5] [--keep DIR]

The images stand in for ComfyUI renders (there is no GPU here): painted shapes with soft shading, line art,
and a little grain, saved as ComfyUI's SaveImage does (PNG, compress_level 4). They are made from a fixed
seed, so every run encodes the same pixels: an avatar 768x768, a sticker 768x1152 cut out by our own chroma
pipeline (RGBA with soft edges), and a cover 1024x1024.

sharp is installed into bench/sharp/node_modules from the npm registry on first use. Ratios above 1 in the
sharp columns mean Pillow's file (or time) is larger than sharp's.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFilter, features

from comfyloom import moderation
from comfyloom.imaging import chroma, webp

SHARP_DIR = Path(__file__).parent / "sharp"
METADATA = {
    "prompt": "(score_9, score_8_up), masterpiece, best quality, (ANIME), solo, 1girl, blue hair, blue eyes",
    "character": "00000000-0000-0000-0000-000000000000",
    "workflowId": "avatar-00000000-0000-0000-0000-000000000000",
    "timestamp": "2026-11-24T12:00:00+00:00",
}


@dataclass(frozen=True)
class Setting:
    name: str
    quality: int = 90
    method: int = 4
    lossless: bool = False


# Every method at our quality: method is libwebp's effort (0 fastest), and what WEBP_METHOD is chosen from.
SETTINGS = [
    *(Setting(f"q90 m{m}" + (" (ours)" if m == webp.WEBP_METHOD else ""), 90, m) for m in range(7)),
    Setting("q80 m4", 80, 4),
    Setting("q80 m6", 80, 6),
    Setting("q75 m2", 75, 2),
    Setting("lossless m4", 100, 4, lossless=True),
]


# --- the test images -----------------------------------------------------------------------------------------


def _grain(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """Sampler grain: what makes a real render's PNG large and its WebP worth measuring."""
    pixels = np.asarray(img).astype(np.float32)
    noise = rng.normal(0.0, sigma, (*pixels.shape[:2], 1)).astype(np.float32)
    rgb = np.clip(pixels[..., :3] + noise, 0, 255)
    out = np.concatenate([rgb, pixels[..., 3:]], axis=2) if pixels.shape[2] == 4 else rgb
    return Image.fromarray(out.astype(np.uint8), img.mode)


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, size[1], dtype=np.float32)[:, None, None]
    column = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return Image.fromarray(np.broadcast_to(column, (size[1], size[0], 3)).astype(np.uint8), "RGB")


def _figure(draw: ImageDraw.ImageDraw, cx: float, cy: float, scale: float, rng: np.random.Generator) -> None:
    """A chibi-ish character: hair, face, eyes, body, outlines; shading comes from the blur after."""
    s = scale
    outline = (40, 30, 50)
    draw.ellipse((cx - 120 * s, cy + 100 * s, cx + 120 * s, cy + 420 * s), fill=(70, 60, 120), outline=outline, width=5)
    draw.ellipse(
        (cx - 150 * s, cy - 170 * s, cx + 150 * s, cy + 140 * s), fill=(255, 224, 205), outline=outline, width=5
    )
    for _ in range(90):  # hair strands
        a = rng.uniform(math.pi * 0.95, math.pi * 2.05)
        r0, r1 = rng.uniform(120, 160) * s, rng.uniform(150, 240) * s
        x0, y0 = cx + math.cos(a) * r0 * 0.3, cy - 60 * s + math.sin(a) * r0 * 0.6
        x1, y1 = cx + math.cos(a) * r1, cy - 40 * s + math.sin(a) * r1 * 0.8 + rng.uniform(0, 120) * s
        shade = int(rng.uniform(60, 140))
        draw.line((x0, y0, x1, y1), fill=(shade // 3, shade // 2, shade + 100), width=int(rng.uniform(6, 16) * s))
    for side in (-1, 1):  # eyes with highlights
        ex = cx + side * 60 * s
        draw.ellipse((ex - 32 * s, cy - 10 * s, ex + 32 * s, cy + 60 * s), fill=(40, 90, 200), outline=outline, width=4)
        draw.ellipse((ex - 14 * s, cy + 2 * s, ex + 4 * s, cy + 22 * s), fill=(255, 255, 255))
    draw.arc((cx - 30 * s, cy + 60 * s, cx + 30 * s, cy + 100 * s), 20, 160, fill=outline, width=4)


def avatar(rng: np.random.Generator) -> Image.Image:
    img = _gradient((768, 768), (250, 220, 235), (150, 170, 230))
    _figure(ImageDraw.Draw(img), 384, 330, 1.2, rng)
    return _grain(img.filter(ImageFilter.GaussianBlur(1.2)), rng, 3.0)


def sticker(rng: np.random.Generator) -> Image.Image:
    """Drawn on a key colour and cut out by the same code the CPU worker runs, so edges are real."""
    img = Image.new("RGB", (768, 1152), (0, 255, 0))
    _figure(ImageDraw.Draw(img), 384, 480, 1.3, rng)
    return chroma.remove_background(_grain(img.filter(ImageFilter.GaussianBlur(1.2)), rng, 2.0))


def cover(rng: np.random.Generator) -> Image.Image:
    img = _gradient((1024, 1024), (40, 50, 110), (230, 150, 120))
    draw = ImageDraw.Draw(img)
    for i in range(6):  # hills, far to near
        base = 560 + i * 70
        points = [(x, base - 60 * math.sin(x / (90 + 30 * i) + i) - rng.uniform(0, 25)) for x in range(0, 1040, 16)]
        tone = 40 + i * 22
        draw.polygon([(0, 1024), *points, (1024, 1024)], fill=(tone // 2, tone, tone // 2 + 30))
    for _ in range(120):  # stars and leaves
        x, y, r = rng.uniform(0, 1024), rng.uniform(0, 1024), rng.uniform(1, 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.uniform(120, 255, 3)))
    _figure(draw, 360, 420, 0.9, rng)
    _figure(draw, 680, 460, 0.85, rng)
    return _grain(img.filter(ImageFilter.GaussianBlur(1.0)), rng, 3.5)


def make_images(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(20261124)
    files = {}
    for name, make in (("avatar", avatar), ("sticker", sticker), ("cover", cover)):
        path = folder / f"{name}.png"
        make(rng).save(path, format="PNG", compress_level=4)  # as ComfyUI's SaveImage writes
        files[name] = path
    return files


# --- measuring -------------------------------------------------------------------------------------------------


def encode(img: Image.Image, setting: Setting) -> bytes:
    if not setting.lossless:
        return webp.encode(img, METADATA, quality=setting.quality, method=setting.method)
    out = io.BytesIO()
    img.save(
        out, format="WEBP", lossless=True, quality=setting.quality, method=setting.method, xmp=webp.xmp_packet(METADATA)
    )
    return out.getvalue()


def pillow(files: dict[str, Path], repeats: int) -> dict[tuple[str, str], tuple[int, float]]:
    results = {}
    for name, path in files.items():
        with Image.open(path) as img:
            img.load()
            for setting in SETTINGS:
                times, data = [], b""
                for _ in range(repeats):
                    started = time.perf_counter()
                    data = encode(img, setting)
                    times.append((time.perf_counter() - started) * 1000)
                results[(name, setting.name)] = (len(data), statistics.median(times))
    return results


def sharp(files: dict[str, Path], repeats: int, work: Path) -> tuple[str, dict[tuple[str, str], tuple[int, float]]]:
    """sharp's sizes and times, or why there are none."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node is not on PATH: no sharp comparison", {}
    if not (SHARP_DIR / "node_modules" / "sharp").is_dir():
        install = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=SHARP_DIR,
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            return f"could not install sharp: {install.stderr.strip()[-300:]}", {}
    job = work / "sharp-job.json"
    job.write_text(
        json.dumps(
            {
                "images": [str(p) for p in files.values()],
                "settings": [s.__dict__ for s in SETTINGS],
                "repeats": repeats,
                "xmp": webp.xmp_packet(METADATA).decode(),
            }
        )
    )
    run = subprocess.run(["node", str(SHARP_DIR / "encode.mjs"), str(job)], capture_output=True, text=True)
    if run.returncode != 0:
        return f"sharp failed: {run.stderr.strip()[-300:]}", {}
    answer: dict[str, Any] = json.loads(run.stdout)
    by_file = {str(p): name for name, p in files.items()}
    results = {(by_file[r["file"]], r["setting"]): (int(r["bytes"]), float(r["ms"])) for r in answer["results"]}
    return f"sharp {answer['version']} (libwebp {answer['libwebp']}), one thread", results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="encodes per image and setting; the median is shown")
    parser.add_argument("--keep", type=Path, help="keep the test PNGs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="comfyloom-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = make_images(folder)
        ours = pillow(files, args.repeats)
        about_sharp, theirs = sharp(files, args.repeats, Path(tmp))
        png_bytes = {name: path.stat().st_size for name, path in files.items()}
        sizes = {name: Image.open(path).size for name, path in files.items()}
        published = {name: Path(path).read_bytes() for name, path in files.items()}
    print(f"Pillow {PIL.__version__} (libwebp {features.version('webp')}); {about_sharp}; median of {args.repeats}")
    header = "| image | PNG bytes | setting | WebP bytes | PNG/WebP | encode ms |"
    if theirs:
        header += " sharp bytes | size ours/sharp | sharp ms | time ours/sharp |"
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for name in files:
        png = png_bytes[name]
        for setting in SETTINGS:
            size, ms = ours[(name, setting.name)]
            row = f"| {name} | {png:,} | {setting.name} | {size:,} | {png / size:.1f} | {ms:.0f} |"
            if (name, setting.name) in theirs:
                s_size, s_ms = theirs[(name, setting.name)]
                row += f" {s_size:,} | {size / s_size:.3f} | {s_ms:.0f} | {ms / s_ms:.2f} |"
            print(row)
    moderated(published, sizes, max(args.repeats, 20))


def moderated(pngs: dict[str, bytes], sizes: dict[str, tuple[int, int]], repeats: int) -> None:
    """What scoring costs per image: as moderate_image did (decode the published WebP, over white at full size, the
    classifier resizing), and as publish_render does (the pixels handed to the encoder, resized once to the
    classifier's input, then over white); and how far apart the two scores are (WebP's loss and 8-bit rounding)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    before = _rss_mb()
    started = time.perf_counter()
    model = moderation.load(moderation.OPEN_NSFW)
    load_s = time.perf_counter() - started
    print(
        f"\nOutput moderation: {model.name} on onnxruntime {metadata.version('onnxruntime')}, one thread; "
        f"loaded in {load_s:.2f} s, +{_rss_mb() - before:.0f} MB RSS; median of {repeats}"
    )
    print(
        "| image | size | published WebP: p50 ms | p95 ms | score | encoded pixels at input size: p50 ms | p95 ms"
        " | score | score difference | p50 ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, png in pngs.items():
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            pixels: Image.Image = img
        published = webp.encode(pixels, METADATA)
        old, old_score = _timed(repeats, partial(_score_published, model, published))
        new, new_score = _timed(repeats, partial(moderation.score_shown, model, [pixels]))
        w, h = sizes[name]
        print(
            f"| {name} | {w}x{h} | {statistics.median(old):.1f} | {_p95(old):.1f} | {old_score:.4f}"
            f" | {statistics.median(new):.1f} | {_p95(new):.1f} | {new_score:.4f}"
            f" | {abs(new_score - old_score):.4f} | {statistics.median(new) / statistics.median(old):.2f} |"
        )


def _score_published(model: moderation.Classifier, published: bytes) -> float:
    return model.score(moderation.as_shown(published))


def _timed(repeats: int, run: Callable[[], float]) -> tuple[list[float], float]:
    times, value = [], 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        value = run()
        times.append((time.perf_counter() - t) * 1000)
    return times, value


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
