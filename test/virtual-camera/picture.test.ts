import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeFrameStamp, VirtualCamera } from '../../src/virtual-camera/index.js';
import { ControlModel, type PictureControls } from '../../src/virtual-camera/controls.js';
import { renderPicture, TestPattern } from '../../src/virtual-camera/pattern.js';
import { PuControl } from '../../src/spec/uvc.js';
import { classSet, enumerate, FrameCollector, negotiate, readIso, setInterface, VC, VS } from './helpers/raw-usb.js';

const W = 640;
const H = 480;
const INTERVAL_US = 33333;

function picture(changes: Partial<PictureControls> = {}, sequence = 0): Uint8Array {
  const base = new ControlModel('1.1').picture();
  return renderPicture('yuyv', W, H, sequence, { ...base, ...changes }, INTERVAL_US);
}

/** Mean Y, Cb, Cr over a rectangle of a YUYV picture (x and w even). */
function mean(yuyv: Uint8Array, x0: number, y0: number, w: number, h: number): { y: number; cb: number; cr: number } {
  let y = 0;
  let cb = 0;
  let cr = 0;
  let n = 0;
  for (let row = y0; row < y0 + h; row++) {
    for (let x = x0; x < x0 + w; x += 2) {
      const o = (row * W + x) * 2;
      y += yuyv[o]! + yuyv[o + 2]!;
      cb += yuyv[o + 1]!;
      cr += yuyv[o + 3]!;
      n++;
    }
  }
  return { y: y / (2 * n), cb: cb / n, cr: cr / n };
}

// Regions clear of the stamp (top 32 rows) and of the moving box (rows 192–272).
const WHITE_BAR = [10, 100, 60, 40] as const; // 75 % white
const YELLOW_BAR = [90, 100, 60, 40] as const;
const BLACK_BAR = [570, 100, 60, 40] as const;
const MID_RAMP = [300, 400, 40, 40] as const; // the grey ramp around 47 %
const DARK_RAMP = [50, 400, 20, 40] as const; // the grey ramp around 9 %

describe('picture controls act on pixel values', () => {
  const base = picture();
  const white = mean(base, ...WHITE_BAR);
  const yellow = mean(base, ...YELLOW_BAR);
  const black = mean(base, ...BLACK_BAR);
  const ramp = mean(base, ...MID_RAMP);

  it('draws 75 % bars in BT.601 limited range', () => {
    expect(white.y).toBeGreaterThan(160);
    expect(white.y).toBeLessThan(200);
    expect(Math.abs(white.cb - 128)).toBeLessThan(3);
    expect(black.y).toBeLessThan(20);
    expect(yellow.cb).toBeLessThan(100); // yellow has little blue
  });

  it('brightness shifts luma', () => {
    const up = mean(picture({ brightness: 64 }), ...WHITE_BAR);
    const down = mean(picture({ brightness: -64 }), ...WHITE_BAR);
    expect(up.y - white.y).toBeGreaterThan(40);
    expect(white.y - down.y).toBeGreaterThan(40);
  });

  it('contrast stretches luma around the middle', () => {
    const high = picture({ contrast: 200 });
    expect(mean(high, ...WHITE_BAR).y - mean(high, ...BLACK_BAR).y).toBeGreaterThan((white.y - black.y) * 1.3);
    const none = picture({ contrast: 0 });
    expect(Math.abs(mean(none, ...WHITE_BAR).y - mean(none, ...BLACK_BAR).y)).toBeLessThan(2);
  });

  it('saturation scales chroma', () => {
    const grey = mean(picture({ saturation: 0 }), ...YELLOW_BAR);
    expect(Math.abs(grey.cb - 128)).toBeLessThan(2);
    expect(Math.abs(grey.cr - 128)).toBeLessThan(2);
    const vivid = mean(picture({ saturation: 180 }), ...YELLOW_BAR);
    expect(Math.abs(vivid.cb - 128)).toBeGreaterThan(Math.abs(yellow.cb - 128) * 1.5);
  });

  it('hue rotates chroma (180° inverts it)', () => {
    const turned = mean(picture({ hue: 18000 }), ...YELLOW_BAR);
    expect(Math.sign(turned.cb - 128)).toBe(-Math.sign(yellow.cb - 128));
    expect(Math.abs(turned.cb - 128 + (yellow.cb - 128))).toBeLessThan(3);
  });

  it('gain and exposure amplify the light; AE priority 0 caps exposure at the frame period', () => {
    expect(mean(picture({ gain: 50 }), ...MID_RAMP).y).toBeGreaterThan(ramp.y + 15);
    const manual = { aeMode: 1 };
    const longer = mean(picture({ ...manual, exposure: 234, aePriority: 1 }), ...MID_RAMP).y;
    expect(longer).toBeGreaterThan(ramp.y + 15);
    // 300 ms of exposure at 30 fps: only 33 ms fit in a frame unless the frame rate may drop.
    const capped = mean(picture({ ...manual, exposure: 3000, aePriority: 0 }), ...DARK_RAMP).y;
    const stretched = mean(picture({ ...manual, exposure: 3000, aePriority: 1 }), ...DARK_RAMP).y;
    expect(stretched).toBeGreaterThan(capped + 20);
    expect(mean(picture({ ...manual, exposure: 50 }), ...MID_RAMP).y).toBeLessThan(ramp.y - 15);
  });

  it('gamma lifts the midtones', () => {
    expect(mean(picture({ gamma: 250 }), ...MID_RAMP).y).toBeGreaterThan(ramp.y + 20);
  });

  it('white balance set above the light warms the picture, below it cools it', () => {
    const warm = mean(picture({ whiteBalanceAuto: false, whiteBalanceTemperature: 6500 }), ...WHITE_BAR);
    const cool = mean(picture({ whiteBalanceAuto: false, whiteBalanceTemperature: 2800 }), ...WHITE_BAR);
    expect(warm.cr - white.cr).toBeGreaterThan(3);
    expect(warm.cb - white.cb).toBeLessThan(-3);
    expect(cool.cr - white.cr).toBeLessThan(-3);
  });

  it('with the power-line filter off, flicker bands run through the picture', () => {
    const column = (img: Uint8Array) => Array.from({ length: 140 }, (_, i) => img[((i + 40) * W + 30) * 2]!);
    const steady = column(base);
    expect(Math.max(...steady) - Math.min(...steady)).toBe(0);
    const flicker = column(picture({ powerLineFrequency: 0 }));
    expect(Math.max(...flicker) - Math.min(...flicker)).toBeGreaterThan(10);
  });

  it('privacy blanks the scene but not the stamp', () => {
    const img = picture({ privacy: true }, 5);
    expect(mean(img, ...WHITE_BAR).y).toBe(16);
    expect(mean(img, ...MID_RAMP).y).toBe(16);
    expect(decodeFrameStamp({ data: img, width: W, height: H, format: 'yuyv' })).toBe(5);
  });

  it('pan moves the scene sideways; test patterns replace it', () => {
    const panned = mean(picture({ pan: 36000 }), ...WHITE_BAR); // ten degrees: a quarter of the picture
    expect(Math.abs(panned.y - white.y)).toBeGreaterThan(50);
    const flat = picture({ testPattern: TestPattern.FLAT });
    expect(Math.abs(mean(flat, ...WHITE_BAR).y - mean(flat, ...BLACK_BAR).y)).toBeLessThan(1);
    const board = picture({ testPattern: TestPattern.CHECKERBOARD });
    expect(Math.abs(mean(board, 64, 64, 32, 32).y - mean(board, 96, 64, 32, 32).y)).toBeGreaterThan(100);
  });

  it('the box moves with the frame number at the XU motion speed, and stands still at speed 0', () => {
    // The box is the only orange thing (strong Cr) on row 220; find where it starts.
    const boxAt = (img: Uint8Array) => {
      for (let x = 0; x < W; x += 2) if (img[(220 * W + x) * 2 + 3]! > 180) return x;
      return -1;
    };
    expect(boxAt(picture({}, 0))).toBe(0);
    expect(boxAt(picture({}, 10))).toBe(40); // 4 px per frame at the default speed
    expect(boxAt(picture({ motionSpeed: 0 }, 10))).toBe(0);
  });

  it('no control setting makes the stamp unreadable', () => {
    const extremes: Array<Partial<PictureControls>> = [
      { brightness: 64, contrast: 200, gain: 100, gamma: 300 },
      { brightness: -64, contrast: 0, saturation: 0 },
      { hue: -18000, saturation: 200, whiteBalanceAuto: false, whiteBalanceTemperature: 2800 },
      { powerLineFrequency: 0, testPattern: TestPattern.CHECKERBOARD, pan: -36000, tilt: 36000 },
    ];
    for (const c of extremes) expect(decodeFrameStamp({ data: picture(c, 77), width: W, height: H, format: 'yuyv' })).toBe(77);
  });
});

describe('controls set over USB change the streamed picture', () => {
  async function meanLumaOfFrames(brightness: number | null, format: 1 | 2): Promise<{ y: number; stamps: (number | null)[] }> {
    const camera = new VirtualCamera({ pace: 'fast' });
    await enumerate(camera);
    if (brightness !== null) {
      const value = new Uint8Array(2);
      new DataView(value.buffer).setInt16(0, brightness, true);
      expect((await classSet(camera, VC, 2, PuControl.BRIGHTNESS, value)).status).toBe('ok');
    }
    await negotiate(camera, 34, { bFormatIndex: format, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const collector = new FrameCollector();
    await readIso(camera, 3072, 32, 3, (p) => {
      collector.payload(p.data);
      return collector.frames.length < 3;
    });
    camera.unplug();
    const stamps: (number | null)[] = [];
    let sum = 0;
    for (const f of collector.frames) {
      const yuyv =
        format === 1
          ? f.data
          : await (async () => {
              const { data } = await sharp(f.data).raw().toBuffer({ resolveWithObject: true });
              // Back to a luma-only YUYV-like layout for the same region measure.
              const out = new Uint8Array(W * H * 2);
              for (let i = 0; i < W * H; i++) out[i * 2] = (data[i * 3]! * 77 + data[i * 3 + 1]! * 150 + data[i * 3 + 2]! * 29) >> 8;
              return out;
            })();
      stamps.push(decodeFrameStamp({ data: yuyv, width: W, height: H, format: 'yuyv' }));
      sum += mean(yuyv, ...WHITE_BAR).y;
    }
    return { y: sum / collector.frames.length, stamps };
  }

  for (const format of [1, 2] as const) {
    it(`brightness via SET_CUR lifts the ${format === 1 ? 'YUYV' : 'MJPEG'} frames`, async () => {
      const plain = await meanLumaOfFrames(null, format);
      const bright = await meanLumaOfFrames(60, format);
      expect(plain.stamps).toEqual([0, 1, 2]);
      expect(bright.stamps).toEqual([0, 1, 2]);
      expect(bright.y - plain.y).toBeGreaterThan(35);
    });
  }
});
