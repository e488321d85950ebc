"""convert_webp: the staged PNG becomes a WebP with its provenance in XMP, off the event loop."""

from __future__ import annotations

import asyncio
import io
from xml.sax.saxutils import escape

from PIL import Image
from temporalio import activity

from comfyloom.contracts import ConvertedImage, ConvertRequest
from comfyloom.storage import ObjectStore

WEBP_QUALITY = 90
WEBP_METHOD = 4  # 6 is ~3x slower for ~2% smaller files; 4 is the better trade for avatars


def xmp_packet(metadata: dict[str, str]) -> bytes:
    fields = "".join(f"<comfyloom:{key}>{escape(value)}</comfyloom:{key}>" for key, value in sorted(metadata.items()))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:comfyloom="https://comfyloom.dev/ns/1.0/">'
        f"{fields}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def png_to_webp(png: bytes, metadata: dict[str, str]) -> tuple[bytes, int, int]:
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
        converted = img.convert("RGBA" if has_alpha else "RGB")
        out = io.BytesIO()
        converted.save(out, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, xmp=xmp_packet(metadata))
        return out.getvalue(), converted.width, converted.height


class ImageActivities:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="convert_webp")
    async def convert_webp(self, request: ConvertRequest) -> ConvertedImage:
        png = await self._store.get(request.source_key)
        webp, width, height = await asyncio.to_thread(png_to_webp, png, request.metadata)
        await self._store.put(request.target_key, webp, "image/webp")
        activity.logger.info("WebP %dx%d: %d -> %d bytes", width, height, len(png), len(webp))
        return ConvertedImage(key=request.target_key, width=width, height=height, size_bytes=len(webp))
