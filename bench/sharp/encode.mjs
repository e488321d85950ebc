// Encodes the PNGs bench/images.py names with sharp, at the same WebP settings, and prints JSON results.
// Pixels are decoded first, so only the WebP encode is timed, as on the Python side.
import { readFileSync } from "node:fs";
import sharp from "sharp";

const { images, settings, repeats, xmp } = JSON.parse(readFileSync(process.argv[2], "utf8"));
sharp.concurrency(1); // one thread, as Pillow encodes: the comparison is per core
const results = [];
for (const file of images) {
  const { data, info } = await sharp(readFileSync(file)).raw().toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  for (const s of settings) {
    const options = s.lossless ? { lossless: true, effort: s.method } : { quality: s.quality, effort: s.method };
    const times = [];
    let bytes = 0;
    for (let i = 0; i < repeats; i++) {
      const started = process.hrtime.bigint();
      const out = await sharp(data, raw).webp(options).withXmp(xmp).toBuffer();
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      bytes = out.length;
    }
    times.sort((a, b) => a - b);
    results.push({ file, setting: s.name, bytes, ms: times[Math.floor(times.length / 2)] });
  }
}
console.log(JSON.stringify({ version: sharp.versions.sharp, libwebp: sharp.versions.webp, results }));
