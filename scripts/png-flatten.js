#!/usr/bin/env node
// Flattens a PNG onto an opaque background: decodes every PNG kind (grey,
// RGB, palette, grey+alpha, RGBA; 1/2/4/8/16 bit; tRNS), composites alpha
// onto the background and writes an 8-bit RGB PNG.
//
// Why: emoji art has transparent backgrounds, and the colour stored under
// alpha = 0 is arbitrary (606 different colours across Google's images, black
// in every OpenMoji one). A loader that drops alpha, as Pillow's
// convert("RGB") and Hugging Face processors do, would show the model those
// colours: a vendor fingerprint and noise. Flattened once here, every loader
// sees the same clean image.
//
// Compositing per channel, 8-bit: out = round((c * a + bg * (255 - a)) / 255).
// 16-bit samples use their high byte (as Pillow does); sub-byte grey is scaled
// to 0..255 (x * 255 / (2^depth - 1)). Interlaced PNGs are refused.
//   node png-flatten.js IN.png OUT.png      (white background)
'use strict';
const fs = require('fs');
const zlib = require('zlib');

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();
function crc32(buf, crc = 0xffffffff) {
  for (let i = 0; i < buf.length; i++) crc = CRC_TABLE[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

class PngError extends Error {}
const fail = (name, msg) => { throw new PngError(`${name}: ${msg}`); };

// Undo the per-row filters in place; returns the raw scanlines without filter bytes.
function unfilter(data, height, rowBytes, bpp, name) {
  const out = Buffer.alloc(height * rowBytes);
  if (data.length < height * (rowBytes + 1)) fail(name, `image data too short (${data.length} bytes, expected ${height * (rowBytes + 1)})`);
  for (let y = 0; y < height; y++) {
    const f = data[y * (rowBytes + 1)], src = y * (rowBytes + 1) + 1, dst = y * rowBytes, up = dst - rowBytes;
    for (let x = 0; x < rowBytes; x++) {
      const raw = data[src + x];
      const a = x >= bpp ? out[dst + x - bpp] : 0, b = y > 0 ? out[up + x] : 0, c = x >= bpp && y > 0 ? out[up + x - bpp] : 0;
      let v;
      switch (f) {
        case 0: v = raw; break;
        case 1: v = raw + a; break;
        case 2: v = raw + b; break;
        case 3: v = raw + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = raw + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: fail(name, `row ${y}: unknown filter type ${f}`);
      }
      out[dst + x] = v & 0xff;
    }
  }
  return out;
}

// Decode to { width, height, rgba: Buffer(w*h*4) }.
function decode(buf, name = 'PNG') {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIG)) fail(name, 'not a PNG (bad signature)');
  let p = 8, ihdr = null, plte = null, trns = null;
  const idat = [];
  for (;;) {
    if (p + 12 > buf.length) fail(name, 'truncated (no IEND chunk)');
    const len = buf.readUInt32BE(p), type = buf.toString('latin1', p + 4, p + 8);
    if (p + 12 + len > buf.length) fail(name, `truncated inside the ${type} chunk`);
    const body = buf.subarray(p + 8, p + 8 + len);
    if ((crc32(buf.subarray(p + 4, p + 8 + len)) ^ 0xffffffff) >>> 0 !== buf.readUInt32BE(p + 8 + len))
      fail(name, `CRC mismatch in the ${type} chunk`);
    if (type === 'IHDR') {
      if (len !== 13) fail(name, 'IHDR chunk has the wrong length');
      ihdr = { w: body.readUInt32BE(0), h: body.readUInt32BE(4), depth: body[8], color: body[9], interlace: body[12] };
    } else if (type === 'PLTE') plte = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  if (!ihdr) fail(name, 'no IHDR chunk');
  const { w, h, depth, color, interlace } = ihdr;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[color];
  const okDepth = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] }[color];
  if (!channels || !okDepth.includes(depth)) fail(name, `unsupported colour type ${color} with bit depth ${depth}`);
  if (interlace) fail(name, 'interlaced PNGs are not supported');
  if (w < 1 || h < 1 || w * h > 1 << 26) fail(name, `unreasonable size ${w}x${h}`);
  if (color === 3 && !plte) fail(name, 'palette image without a PLTE chunk');
  let data;
  try { data = zlib.inflateSync(Buffer.concat(idat)); } catch (e) { fail(name, `corrupt image data (${e.message})`); }
  const bitsPP = channels * depth, rowBytes = Math.ceil((w * bitsPP) / 8), bpp = Math.max(1, bitsPP >> 3);
  const raw = unfilter(data, h, rowBytes, bpp, name);
  const rgba = Buffer.alloc(w * h * 4);
  // sample i of row y (channel-interleaved), reduced to 8 bits
  const sample = (row, i) => {
    if (depth === 8) return raw[row + i];
    if (depth === 16) return raw[row + 2 * i];
    const perByte = 8 / depth, byte = raw[row + Math.floor(i / perByte)];
    return (byte >> (8 - depth * (1 + (i % perByte)))) & ((1 << depth) - 1);
  };
  const sample16 = (row, i) => (depth === 16 ? raw.readUInt16BE(row + 2 * i) : sample(row, i));
  if (color === 6 && depth === 8) { raw.copy(rgba); return { width: w, height: h, rgba }; }   // the common case
  const maxv = (1 << depth) - 1;
  for (let y = 0; y < h; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      let r, g, b, a = 255;
      if (color === 0) {
        const v = sample(row, x);
        r = g = b = depth < 8 ? Math.round((v * 255) / maxv) : v;
        if (trns && trns.length >= 2 && sample16(row, x) === trns.readUInt16BE(0)) a = 0;
      } else if (color === 2) {
        r = sample(row, 3 * x); g = sample(row, 3 * x + 1); b = sample(row, 3 * x + 2);
        if (trns && trns.length >= 6 && sample16(row, 3 * x) === trns.readUInt16BE(0) &&
            sample16(row, 3 * x + 1) === trns.readUInt16BE(2) && sample16(row, 3 * x + 2) === trns.readUInt16BE(4)) a = 0;
      } else if (color === 3) {
        const i = sample(row, x);
        if (3 * i + 2 >= plte.length) fail(name, `palette index ${i} outside the ${plte.length / 3}-entry palette`);
        r = plte[3 * i]; g = plte[3 * i + 1]; b = plte[3 * i + 2];
        if (trns && i < trns.length) a = trns[i];
      } else if (color === 4) {
        r = g = b = sample(row, 2 * x); a = sample(row, 2 * x + 1);
      } else {
        r = sample(row, 4 * x); g = sample(row, 4 * x + 1); b = sample(row, 4 * x + 2); a = sample(row, 4 * x + 3);
      }
      rgba[o] = r; rgba[o + 1] = g; rgba[o + 2] = b; rgba[o + 3] = a;
    }
  }
  return { width: w, height: h, rgba };
}

// Alpha onto an opaque background: 8-bit RGB, rounded to nearest.
function flatten(img, bg = [255, 255, 255]) {
  const n = img.width * img.height, rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const a = img.rgba[4 * i + 3];
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.floor((img.rgba[4 * i + c] * a + bg[c] * (255 - a) + 127) / 255);
  }
  return { width: img.width, height: img.height, rgb };
}

function chunk(type, body) {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  body.copy(out, 8);
  out.writeUInt32BE((crc32(out.subarray(4, 8 + body.length)) ^ 0xffffffff) >>> 0, 8 + body.length);
  return out;
}

// 8-bit RGB PNG; per row the filter with the smallest sum of |bytes| (the
// usual heuristic: one pass scores all five, a second writes the winner).
function encodeRGB({ width, height, rgb }) {
  const rowBytes = width * 3, bpp = 3, data = Buffer.alloc(height * (rowBytes + 1));
  const abs8 = (d) => { d &= 0xff; return d < 128 ? d : 256 - d; };
  const paeth = (a, b, c) => {
    const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (let y = 0; y < height; y++) {
    const cur = y * rowBytes, prev = cur - rowBytes;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (let x = 0; x < rowBytes; x++) {
      const v = rgb[cur + x], a = x >= bpp ? rgb[cur + x - bpp] : 0;
      const b = y > 0 ? rgb[prev + x] : 0, c = x >= bpp && y > 0 ? rgb[prev + x - bpp] : 0;
      s0 += abs8(v); s1 += abs8(v - a); s2 += abs8(v - b); s3 += abs8(v - ((a + b) >> 1)); s4 += abs8(v - paeth(a, b, c));
    }
    const sums = [s0, s1, s2, s3, s4];
    const f = sums.indexOf(Math.min(...sums)), o = y * (rowBytes + 1);
    data[o] = f;
    for (let x = 0; x < rowBytes; x++) {
      const v = rgb[cur + x], a = x >= bpp ? rgb[cur + x - bpp] : 0;
      const b = y > 0 ? rgb[prev + x] : 0, c = x >= bpp && y > 0 ? rgb[prev + x - bpp] : 0;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
      data[o + 1 + x] = (v - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([SIG, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(data, { level: 6 })), chunk('IEND', Buffer.alloc(0))]);
}

// File to file, through a temp name (no half-written PNG after a crash).
function flattenFile(src, dst, bg) {
  const png = encodeRGB(flatten(decode(fs.readFileSync(src), src), bg));
  const tmp = `${dst}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, png);
  fs.renameSync(tmp, dst);
}

module.exports = { decode, flatten, encodeRGB, flattenFile, PngError };

if (require.main === module) {
  const [src, dst] = process.argv.slice(2);
  if (!src || !dst) { process.stderr.write('usage: png-flatten.js IN.png OUT.png\n'); process.exit(2); }
  try { flattenFile(src, dst); } catch (e) {
    process.stderr.write(`png-flatten: error: ${e instanceof PngError ? e.message : `${src}: ${e.message}`}\n`);
    process.exit(1);
  }
}
