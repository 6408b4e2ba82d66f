/**
 * `uvc-capture` capture, run as users run it (the built binary, spawned) against the virtual camera: frames to a
 * directory and to stream files, checked file by file (count, size, JPEG decode, the stamp in each picture), and the
 * --json summary.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { hasHuffmanTables } from '../../src/media/index.js';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { decodeJpegStamp, leftovers, listFrames, readBytes, splitJpegStream, yuyvStamp } from './frame-files.js';
import { runCli } from './run-cli.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-cli-capture-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Summary {
  frames: number;
  fps: number;
  errors: number;
  lost: number;
  bytes: number;
  mode: { fourcc: string; width: number; height: number; fps: number; transfer: string };
  output: { kind: string; path: string; files: number };
  received: number;
  dropped: number;
  bytesWritten: number;
  stopped: string;
  exitCode: number;
  negotiatedFps: number;
}

/** Stamps must increase; gaps between them are frames not written (lost on the way, or errored and dropped). */
function expectIncreasing(stamps: Array<number | null>): void {
  expect(stamps.every((s) => s !== null)).toBe(true);
  for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
}

describe('uvc-capture capture on the virtual camera', () => {
  it('writes 100 MJPEG frames to a directory, Huffman tables put back, each decoding to its stamp; --json tells it all', async () => {
    const dir = path.join(work, 'mjpeg-dir');
    // omitHuffmanTables: the camera strips DHT as many real ones do; the files must be complete JPEGs anyway.
    const result = await runCli(['--virtual', '--virtual-option', 'omitHuffmanTables=true', '-f', 'MJPEG', '-s', '640x480', '--frames', '100', '-o', `${dir}/`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ frames: 100, stopped: 'frames', exitCode: 0, negotiatedFps: 30, output: { kind: 'directory', path: dir, files: 100 } });
    expect(summary.mode).toMatchObject({ fourcc: 'MJPG', width: 640, height: 480, fps: 30, transfer: 'iso' });
    expect(summary.received).toBe(summary.frames + summary.dropped);
    expect(summary.errors).toBeGreaterThanOrEqual(summary.dropped);
    expect(summary.fps).toBeGreaterThan(0);
    expect(summary.bytes).toBeGreaterThan(0);

    const files = listFrames(dir, 'jpg');
    expect(files).toEqual(Array.from({ length: 100 }, (_, i) => `frame-${String(i + 1).padStart(6, '0')}.jpg`));
    expect(leftovers(dir)).toEqual([]);
    const stamps: Array<number | null> = [];
    let bytes = 0;
    for (const file of files) {
      const jpeg = readBytes(path.join(dir, file));
      bytes += jpeg.length;
      expect(hasHuffmanTables(jpeg)).toBe(true);
      const decoded = await decodeJpegStamp(jpeg);
      expect([decoded.width, decoded.height]).toEqual([640, 480]);
      stamps.push(decoded.stamp);
    }
    expectIncreasing(stamps);
    expect(summary.bytesWritten).toBe(bytes);
    // Every frame the camera sent either arrived (written or dropped as errored) or is counted lost.
    expect(stamps.at(-1)! + 1).toBeGreaterThanOrEqual(summary.received);
  });

  it('writes YUYV frames of exactly width × height × 2 bytes, and PNGs of them with --png', async () => {
    const dir = path.join(work, 'yuyv-dir');
    const result = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--format', 'YUYV', '--frames', '12', '--png', '-o', dir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ frames: 12, output: { files: 24 }, mode: { fourcc: 'YUY2', width: 640, height: 480 } });
    const raw = listFrames(dir, 'yuv');
    const png = listFrames(dir, 'png');
    expect(raw).toHaveLength(12);
    expect(png).toEqual(raw.map((f) => f.replace('.yuv', '.png')));
    for (const [i, file] of raw.entries()) {
      const data = readBytes(path.join(dir, file));
      expect(data.length).toBe(640 * 480 * 2);
      const stamp = yuyvStamp(data, 640, 480);
      expect(stamp).not.toBeNull();
      // The PNG is the same picture: same stamp, decoded losslessly.
      const { data: rgb, info } = await sharp(path.join(dir, png[i]!)).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([640, 480, 3]);
      expect(decodeFrameStamp({ data: rgb, width: 640, height: 480, format: 'rgb' })).toBe(stamp);
    }
  });

  it('writes 100 frames into one .mjpeg stream file (the format follows from the extension)', async () => {
    const file = path.join(work, 'capture.mjpeg');
    const result = await runCli(['--virtual', '--frames', '100', '-o', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ frames: 100, mode: { fourcc: 'MJPG' }, output: { kind: 'file', path: file, files: 1 } });
    const stream = readBytes(file);
    expect(stream.length).toBe(summary.bytesWritten);
    const frames = splitJpegStream(stream);
    expect(frames).toHaveLength(100);
    const stamps = [];
    for (const jpeg of frames) stamps.push((await decodeJpegStamp(jpeg)).stamp);
    expectIncreasing(stamps);
  });

  it('writes a .yuv stream of whole frames', async () => {
    const file = path.join(work, 'capture.yuv');
    const result = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--size', '1280x720', '--frames', '20', '-o', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.mode).toMatchObject({ fourcc: 'YUY2', width: 1280, height: 720 });
    const frameBytes = 1280 * 720 * 2;
    expect(statSync(file).size).toBe(20 * frameBytes);
    const stream = readBytes(file);
    const stamps = Array.from({ length: 20 }, (_, i) => yuyvStamp(stream.subarray(i * frameBytes, (i + 1) * frameBytes), 1280, 720));
    expectIncreasing(stamps);
  });

  it("in 'fast' pace (the camera as fast as the host asks) a stream file gets every frame: each is written before the next completes", async () => {
    // The frame numbers stamped in the pictures must follow each other without a gap (issue 12.6: no loss where
    // uvcvideo loses none). A write run in the background let the driver fill every buffer meanwhile and drop
    // whole frames: over a thousand of 300 on this test's machine.
    const file = path.join(work, 'fast.yuv');
    const result = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--frames', '150', '-o', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary).toMatchObject({ frames: 150, received: 150, lost: 0, errors: 0 });
    const frameBytes = 640 * 480 * 2;
    const stream = readBytes(file);
    expect(stream.length).toBe(150 * frameBytes);
    const stamps = Array.from({ length: 150 }, (_, i) => yuyvStamp(stream.subarray(i * frameBytes, (i + 1) * frameBytes), 640, 480));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i], `frame ${i}`).toBe(stamps[i - 1]! + 1);
  });

  it('writes MJPEG without Huffman tables into a stream file with the tables put back, frame by frame', async () => {
    const file = path.join(work, 'no-dht.mjpeg');
    const result = await runCli(['--virtual', '--virtual-option', 'omitHuffmanTables=true', '--virtual-option', 'pace=fast', '-f', 'MJPEG', '--frames', '20', '-o', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    const stream = readBytes(file);
    expect(stream.length).toBe(summary.bytesWritten);
    const frames = splitJpegStream(stream);
    expect(frames).toHaveLength(20);
    const stamps = [];
    for (const jpeg of frames) {
      expect(hasHuffmanTables(jpeg)).toBe(true);
      stamps.push((await decodeJpegStamp(jpeg)).stamp);
    }
    expectIncreasing(stamps);
  });

  it('streams MJPEG to stdout with -o -, the summary going to stderr', async () => {
    const result = await runCli(['--virtual', '-f', 'MJPEG', '--frames', '10', '-o', '-', '--json'], { binaryStdout: true });
    expect(result.code, result.stderr).toBe(0);
    const frames = splitJpegStream(result.stdoutBytes!);
    expect(frames).toHaveLength(10);
    for (const jpeg of frames) expect((await decodeJpegStamp(jpeg)).width).toBe(640);
    expect(JSON.parse(result.stderr.slice(result.stderr.indexOf('{'))) as Summary).toMatchObject({ frames: 10, output: { kind: 'stdout' } });
  });

  it('stops after --seconds and says so in the human summary', async () => {
    const dir = path.join(work, 'seconds');
    const result = await runCli(['--virtual', '--seconds', '1', '-o', dir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Captured \d+ frames? in 1\.\d\d s: YUY2 640×480 @ 30 fps, iso/m);
    // A loaded machine may deliver a single frame in that second: then there is no rate to measure, and it says so.
    expect(result.stdout).toMatch(/rate: +(\d+\.\d\d fps measured|not measured \(fewer than 2 frames\)), 30 fps negotiated/);
    expect(result.stdout).toMatch(/lost \(sequence gaps\)/);
    const written = Number(/Captured (\d+) frames?/.exec(result.stdout)![1]);
    // How many frames one real-time second yields depends on the machine's load (a stalled event loop loses
    // packets, and errored frames are dropped); what is written is what the summary says.
    expect(written).toBeGreaterThan(0);
    expect(listFrames(dir, 'yuv')).toHaveLength(written);
    expect(existsSync(dir)).toBe(true);
  });

  it('applies --set controls before streaming', async () => {
    const dark = path.join(work, 'dark.yuv');
    const bright = path.join(work, 'bright.yuv');
    const a = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--set', 'brightness=-64', '--frames', '1', '-o', dark]);
    const b = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--set', 'brightness=64', '--set', 'power_line_frequency=60hz', '--frames', '1', '-o', bright]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(b.stderr).toContain('Set power_line_frequency = 60hz (2)');
    const mean = (data: Uint8Array) => {
      let sum = 0;
      for (let i = 64 * 640 * 2; i < data.length; i += 2) sum += data[i]!;
      return sum / ((data.length - 64 * 640 * 2) / 2);
    };
    expect(mean(readBytes(bright))).toBeGreaterThan(mean(readBytes(dark)) + 40);
  });
});
