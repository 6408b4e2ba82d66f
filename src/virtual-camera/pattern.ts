/**
 * The picture: a test pattern (colour bars over a grey ramp by default), a box moving across it, and the frame
 * stamp in the top-left corner. The camera's controls act on it the way a sensor pipeline would: exposure,
 * scene light and gain scale the light; white balance tints it; gamma bends it; contrast, brightness,
 * saturation and hue work on luma and chroma; with the power-line filter off, mains flicker rolls through it
 * as horizontal bands; privacy blanks it. The stamp is drawn last, in pure black and white, untouched by any
 * control, so it stays readable whatever the controls say.
 *
 * Rows of the picture repeat (bars are vertical), so the pipeline runs on a few template rows per frame and
 * the frame is assembled by copying rows: a 1080p frame costs a few milliseconds.
 */
import { NOMINAL_EXPOSURE, type PictureControls } from './controls.js';
import { stampBits, stampBlockOrigin, stampGeometry } from './frame-stamp.js';
import { sceneLight, sceneTemperature } from './scene.js';

export type PictureFormat = 'yuyv' | 'nv12' | 'rgb';

type Rgb = [number, number, number];

/** 75 % SMPTE-style bars: white, yellow, cyan, green, magenta, red, blue, black. */
const BARS: Rgb[] = [
  [0.75, 0.75, 0.75],
  [0.75, 0.75, 0],
  [0, 0.75, 0.75],
  [0, 0.75, 0],
  [0.75, 0, 0.75],
  [0.75, 0, 0],
  [0, 0, 0.75],
  [0, 0, 0],
];

const BOX_COLOUR: Rgb = [1, 0.55, 0.1];
const FLICKER_LEVELS = 8;

/** Test patterns selectable through the extension unit. */
export const TestPattern = { BARS: 0, RAMP: 1, FLAT: 2, CHECKERBOARD: 3 } as const;

/** A template row: the scene's colour at each x, before any processing. */
type SceneRow = (x: number) => Rgb;

interface Layout {
  /** Distinct scene rows of this pattern. */
  rows: SceneRow[];
  /** Which scene row each picture row shows. */
  rowOf: (y: number) => number;
}

function patternLayout(pattern: number, width: number, height: number, panPx: number, tiltPx: number): Layout {
  const wrap = (x: number) => (((x - panPx) % width) + width) % width;
  const ramp: SceneRow = (x) => {
    const v = wrap(x) / (width - 1);
    return [v, v, v];
  };
  switch (pattern) {
    case TestPattern.RAMP:
      return { rows: [ramp], rowOf: () => 0 };
    case TestPattern.FLAT:
      return { rows: [() => [0.5, 0.5, 0.5]], rowOf: () => 0 };
    case TestPattern.CHECKERBOARD: {
      const square = 32;
      const cell = (x: number, phase: number): Rgb => {
        const v = ((Math.floor(wrap(x) / square) + phase) & 1) === 0 ? 0.9 : 0.1;
        return [v, v, v];
      };
      return {
        rows: [(x) => cell(x, 0), (x) => cell(x, 1)],
        rowOf: (y) => Math.floor((((y - tiltPx) % (2 * square)) + 2 * square) % (2 * square) / square),
      };
    }
    default: {
      const split = Math.min(height, Math.max(0, Math.round((height * 2) / 3) + tiltPx));
      const bars: SceneRow = (x) => BARS[Math.min(BARS.length - 1, Math.floor((wrap(x) * BARS.length) / width))]!;
      return { rows: [bars, ramp], rowOf: (y) => (y < split ? 0 : 1) };
    }
  }
}

/** The processing chain, as per-frame constants. */
interface Pipeline {
  light: number;
  rGain: number;
  bGain: number;
  gammaExp: number;
  contrast: number;
  brightness: number;
  saturation: number;
  hueCos: number;
  hueSin: number;
  black: boolean;
}

function pipelineFor(sequence: number, c: PictureControls, frameIntervalUs: number): Pipeline {
  // A sensor cannot integrate longer than a frame unless AE priority lets the frame rate drop.
  const exposure = c.aePriority === 1 ? c.exposure : Math.min(c.exposure, frameIntervalUs / 100);
  const light = (exposure / NOMINAL_EXPOSURE) * sceneLight(sequence) * (1 + c.gain / 100);
  // White balance set warmer than the light looks orange, cooler looks blue.
  const delta = (c.whiteBalanceTemperature - sceneTemperature(sequence)) / 1000;
  const hue = (c.hue / 100) * (Math.PI / 180);
  return {
    light,
    rGain: 1 + 0.1 * delta,
    bGain: 1 - 0.1 * delta,
    gammaExp: 100 / c.gamma,
    contrast: c.contrast / 100,
    brightness: c.brightness / 255,
    saturation: c.saturation / 100,
    hueCos: Math.cos(hue),
    hueSin: Math.sin(hue),
    black: c.privacy,
  };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const byte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Scene colour → full-range Y, Cb, Cr (BT.601), after every control. `flicker` scales luma. */
function process(rgb: Rgb, p: Pipeline, flicker: number): [number, number, number] {
  if (p.black) return [0, 0, 0];
  const r = Math.pow(clamp01(rgb[0] * p.light * p.rGain), p.gammaExp);
  const g = Math.pow(clamp01(rgb[1] * p.light), p.gammaExp);
  const b = Math.pow(clamp01(rgb[2] * p.light * p.bGain), p.gammaExp);
  let y = 0.299 * r + 0.587 * g + 0.114 * b;
  let cb = (b - y) * 0.564;
  let cr = (r - y) * 0.713;
  y = ((y - 0.5) * p.contrast + 0.5 + p.brightness) * flicker;
  const cb2 = (cb * p.hueCos - cr * p.hueSin) * p.saturation;
  const cr2 = (cb * p.hueSin + cr * p.hueCos) * p.saturation;
  cb = cb2;
  cr = cr2;
  return [clamp01(y), cb, cr];
}

/** One processed row in the output's byte layout (for NV12: luma row, then the chroma row for even lines). */
function encodeRow(format: PictureFormat, pixels: Array<[number, number, number]>, width: number): Uint8Array {
  if (format === 'rgb') {
    const row = new Uint8Array(width * 3);
    for (let x = 0; x < width; x++) {
      const [y, cb, cr] = pixels[x]!;
      row[x * 3] = byte((y + 1.402 * cr) * 255);
      row[x * 3 + 1] = byte((y - 0.344136 * cb - 0.714136 * cr) * 255);
      row[x * 3 + 2] = byte((y + 1.772 * cb) * 255);
    }
    return row;
  }
  const luma = (y: number) => byte(16 + 219 * y);
  const chroma = (c: number) => byte(128 + 224 * c);
  if (format === 'yuyv') {
    const row = new Uint8Array(width * 2);
    for (let x = 0; x < width; x += 2) {
      const a = pixels[x]!;
      const b = pixels[x + 1] ?? a;
      row[x * 2] = luma(a[0]);
      row[x * 2 + 1] = chroma((a[1] + b[1]) / 2);
      row[x * 2 + 2] = luma(b[0]);
      row[x * 2 + 3] = chroma((a[2] + b[2]) / 2);
    }
    return row;
  }
  // NV12: width bytes of luma, then width bytes of interleaved Cb/Cr at half horizontal resolution.
  const row = new Uint8Array(width * 2);
  for (let x = 0; x < width; x++) row[x] = luma(pixels[x]![0]);
  for (let x = 0; x < width; x += 2) {
    const a = pixels[x]!;
    const b = pixels[x + 1] ?? a;
    row[width + x] = chroma((a[1] + b[1]) / 2);
    row[width + x + 1] = chroma((a[2] + b[2]) / 2);
  }
  return row;
}

export function frameBytes(format: PictureFormat, width: number, height: number): number {
  return format === 'rgb' ? width * height * 3 : format === 'yuyv' ? width * height * 2 : (width * height * 3) / 2;
}

/** Mains flicker with the power-line filter disabled: bands that roll down the picture from frame to frame. */
function flickerLevel(y: number, height: number, sequence: number): number {
  const phase = (y / height) * 2.5 + sequence * 0.15;
  const s = 0.5 + 0.5 * Math.sin(2 * Math.PI * phase);
  return Math.min(FLICKER_LEVELS - 1, Math.floor(s * FLICKER_LEVELS));
}

class FrameWriter {
  constructor(
    readonly format: PictureFormat,
    readonly width: number,
    readonly height: number,
    readonly data: Uint8Array,
  ) {}

  putRow(y: number, row: Uint8Array): void {
    const { width, format, data } = this;
    if (format === 'rgb') data.set(row, y * width * 3);
    else if (format === 'yuyv') data.set(row, y * width * 2);
    else {
      data.set(row.subarray(0, width), y * width);
      if ((y & 1) === 0) data.set(row.subarray(width), width * this.height + (y >> 1) * width);
    }
  }

  /** Fills a rectangle (x and w even for the subsampled formats) with one full-range Y/Cb/Cr colour. */
  fillRect(x0: number, y0: number, w: number, h: number, colour: [number, number, number]): void {
    const { width, height, format, data } = this;
    const x1 = Math.min(width, x0 + w);
    const y1 = Math.min(height, y0 + h);
    if (format === 'rgb') {
      if (x1 <= x0) return;
      const row = encodeRow('rgb', new Array<[number, number, number]>(x1 - x0).fill(colour), x1 - x0);
      for (let y = y0; y < y1; y++) data.set(row, (y * width + x0) * 3);
      return;
    }
    const Y = byte(16 + 219 * colour[0]);
    const Cb = byte(128 + 224 * colour[1]);
    const Cr = byte(128 + 224 * colour[2]);
    if (format === 'yuyv') {
      for (let y = y0; y < y1; y++) {
        let o = (y * width + x0) * 2;
        for (let x = x0; x < x1; x += 2, o += 4) {
          data[o] = Y;
          data[o + 1] = Cb;
          data[o + 2] = Y;
          data[o + 3] = Cr;
        }
      }
      return;
    }
    for (let y = y0; y < y1; y++) {
      data.fill(Y, y * width + x0, y * width + x1);
      if ((y & 1) === 0) {
        let o = width * height + (y >> 1) * width + x0;
        for (let x = x0; x < x1; x += 2, o += 2) {
          data[o] = Cb;
          data[o + 1] = Cr;
        }
      }
    }
  }

  /** Pure black or white, bypassing every control (the stamp). */
  fillLevel(x0: number, y0: number, size: number, white: boolean): void {
    if (this.format === 'rgb') {
      const v = white ? 255 : 0;
      for (let y = y0; y < y0 + size; y++) this.data.fill(v, (y * this.width + x0) * 3, (y * this.width + x0 + size) * 3);
      return;
    }
    // Full white/black in limited range: Y 235 / 16 with neutral chroma.
    this.fillRect(x0, y0, size, size, [white ? 1 : 0, 0, 0]);
  }
}

/**
 * Renders frame `sequence`. `frameIntervalUs` is the negotiated frame period (it caps the exposure when the
 * frame rate may not vary).
 */
export function renderPicture(
  format: PictureFormat,
  width: number,
  height: number,
  sequence: number,
  controls: PictureControls,
  frameIntervalUs: number,
): Uint8Array {
  const data = new Uint8Array(frameBytes(format, width, height));
  const writer = new FrameWriter(format, width, height, data);
  const pipeline = pipelineFor(sequence, controls, frameIntervalUs);
  // Pan and tilt move the scene by a fortieth of the picture per 3600 arc-seconds (one degree).
  const panPx = Math.round(((controls.pan / 3600) * width) / 40);
  const tiltPx = Math.round(((controls.tilt / 3600) * height) / 40);
  const layout = patternLayout(controls.testPattern, width, height, panPx, tiltPx);
  const flickering = controls.powerLineFrequency === 0;

  const cache = new Map<number, Uint8Array>();
  const rowFor = (template: number, level: number): Uint8Array => {
    const key = template * FLICKER_LEVELS + level;
    let row = cache.get(key);
    if (row === undefined) {
      const flicker = 1 - (0.2 * level) / (FLICKER_LEVELS - 1);
      const scene = layout.rows[template]!;
      const pixels = new Array<[number, number, number]>(width);
      // Scene rows are piecewise constant: reuse the processed colour while the scene colour repeats.
      let last: Rgb | null = null;
      let lastOut: [number, number, number] = [0, 0, 0];
      for (let x = 0; x < width; x++) {
        const c = scene(x);
        if (last === null || c[0] !== last[0] || c[1] !== last[1] || c[2] !== last[2]) {
          lastOut = process(c, pipeline, flicker);
          last = c;
        }
        pixels[x] = lastOut;
      }
      row = encodeRow(format, pixels, width);
      cache.set(key, row);
    }
    return row;
  };
  for (let y = 0; y < height; y++) {
    writer.putRow(y, rowFor(layout.rowOf(y), flickering ? flickerLevel(y, height, sequence) : 0));
  }

  // The moving box, in the middle band of the picture.
  if (!pipeline.black) {
    const boxW = Math.max(2, Math.round(width / 8) & ~1);
    const boxH = Math.max(2, Math.round(height / 6));
    const travel = Math.max(1, width - boxW);
    const step = (controls.motionSpeed * width) / 640;
    const x = Math.floor((sequence * step) % travel) & ~1;
    const y = Math.round(height * 0.4);
    writer.fillRect(x, y, boxW, boxH, process(BOX_COLOUR, pipeline, 1));
  }

  const geometry = stampGeometry(width, height);
  if (geometry !== null) {
    const bits = stampBits(sequence);
    for (let i = 0; i < bits.length; i++) {
      const { x, y } = stampBlockOrigin(geometry, i);
      writer.fillLevel(x, y, geometry.block, bits[i] === 1);
    }
  }
  return data;
}
