/**
 * Several cameras from the command line, run as users run it (the built binary, spawned), on virtual cameras
 * sharing one virtual bus: `plan` says what fits and what to lower; `capture --camera A --camera B -o dir/` writes a
 * folder per camera and pairs.csv, each file checked by the stamp in its picture.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { runCli } from './run-cli.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-cli-multi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SMALL = `--virtual-option=formats=${JSON.stringify([{ format: 'yuyv', frames: [{ width: 160, height: 120, fps: [30, 15] }, { width: 640, height: 480, fps: [30, 15, 5] }] }])}`;

describe('uvc-capture plan', () => {
  it('says two 640x480@30 YUYV cameras do not fit one high-speed bus, and what to lower', async () => {
    const result = await runCli(['plan', '--virtual', '--camera', 'left=YUYV:640x480@30', '--camera', 'right=640x480@30', '-q']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(5);
    expect(result.stdout).toMatch(/High speed bus: periodic transfers may take 100 µs per microframe \(80 % of 125\)/);
    expect(result.stdout).toMatch(/left\s+YUY2 640x480 @ 30 fps\s+iso\s+6\s+3072\s+61 µs\s+yes/);
    expect(result.stdout).toMatch(/they do not fit/);
    expect(result.stdout).toMatch(/Lower one camera: left to YUY2 640x480 @ 5 fps \(11 µs\), or right to YUY2 640x480 @ 5 fps \(11 µs\)\./);
    expect(result.stdout).toMatch(/Or lower together: left to YUY2 640x480 @ 15 fps, right to YUY2 640x480 @ 15 fps\./);
  });

  it('answers in JSON, exit 0 when the modes fit', async () => {
    const result = await runCli(['plan', '--virtual', '--camera', 'a=640x480@30', '--camera', 'b=@5', '-s', '640x480', '--json', '-q']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { fits: boolean; cameras: Array<{ name: string; wanted: { fps: number; altSetting: number; amount: number } }>; domains: Array<{ used: number }> };
    expect(plan.fits).toBe(true);
    expect(plan.cameras.map((c) => [c.name, c.wanted.fps, c.wanted.altSetting, c.wanted.amount])).toEqual([
      ['a', 30, 6, 61],
      ['b', 5, 3, 11],
    ]);
    expect(plan.domains[0]!.used).toBe(61 + 11 + 2);
  });

  it('refuses bad camera lists', async () => {
    expect((await runCli(['plan', '--virtual'])).code).toBe(2);
    const twice = await runCli(['plan', '--virtual', '--camera', 'a', '--camera', 'a']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/camera 'a' is named twice/);
    const badMode = await runCli(['plan', '--virtual', '--camera', 'a=big@fast', '--camera', 'b']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toMatch(/cannot read the mode 'big@fast'/);
    const single = await runCli(['info', '--camera', '1-1', '--camera', '1-2']);
    expect(single.code).toBe(2);
    expect(single.stderr).toMatch(/only capture and plan take several cameras/);
  });
});

describe('uvc-capture capture with several cameras', () => {
  it('writes a folder per camera and pairs.csv of frames paired by time', async () => {
    const out = path.join(work, 'rig');
    const result = await runCli(['capture', '--virtual', SMALL, '--camera', 'left=160x120@30', '--camera', 'right=160x120@30', '--frames', '20', '-o', `${out}/`, '--json', '-q']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { pairs: number; stopped: string; cameras: Array<{ name: string; frames: number; folder: string }> };
    expect(summary.pairs).toBe(20);
    expect(summary.stopped).toBe('frames');
    expect(summary.cameras.map((c) => c.name)).toEqual(['left', 'right']);
    const csv = readFileSync(path.join(out, 'pairs.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('left_sequence,right_sequence,left_file,right_file,right_minus_left_ms');
    expect(csv).toHaveLength(21);
    let previous = [-1, -1];
    for (const line of csv.slice(1)) {
      const [seqLeft, seqRight, fileLeft, fileRight, delta] = line.split(',');
      const sequences = [Number(seqLeft), Number(seqRight)];
      // In time order, each frame once; within half a frame interval of each other.
      expect(sequences[0]).toBeGreaterThan(previous[0]!);
      expect(sequences[1]).toBeGreaterThan(previous[1]!);
      previous = sequences;
      expect(Math.abs(Number(delta))).toBeLessThanOrEqual(1000 / 30 / 2);
      // Each file named is its own camera's frame: its stamp is its sequence (no frame lost in real time here,
      // or the stamp is ahead of nothing: the virtual camera numbers frames from streamon).
      for (const [file, folder] of [[fileLeft, 'left'], [fileRight, 'right']] as const) {
        if (file === '') continue;
        expect(file!.startsWith(`${folder}/`)).toBe(true);
        const data = new Uint8Array(readFileSync(path.join(out, file!)));
        expect(data.length).toBe(160 * 120 * 2);
        expect(decodeFrameStamp({ data, width: 160, height: 120, format: 'yuyv' })).not.toBeNull();
      }
    }
    for (const c of summary.cameras) {
      const files = readdirSync(path.join(out, c.name)).filter((f) => f.endsWith('.yuv'));
      expect(files.length).toBe(c.frames);
      expect(files.length).toBeGreaterThanOrEqual(20);
    }
  });

  it('stops with exit 5 when the cameras go away, keeping every pair and frame written', async () => {
    const out = path.join(work, 'gone');
    const result = await runCli(['capture', '--virtual', SMALL, '--virtual-option', 'faults.unplugAtFrame=25', '--camera', 'a=160x120@30', '--camera', 'b=160x120@30', '-o', `${out}/`, '--json', '-q']);
    expect(result.code).toBe(5);
    const summary = JSON.parse(result.stdout) as { pairs: number; stopped: string; cameras: Array<{ frames: number; unplugged: boolean }> };
    expect(summary.stopped).toBe('unplugged');
    expect(summary.cameras.some((c) => c.unplugged)).toBe(true);
    expect(summary.pairs).toBeGreaterThan(0);
    const csv = readFileSync(path.join(out, 'pairs.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(summary.pairs + 1);
    for (const [i, c] of summary.cameras.entries()) {
      expect(readdirSync(path.join(out, ['a', 'b'][i]!)).filter((f) => f.endsWith('.yuv'))).toHaveLength(c.frames);
      expect(c.frames).toBeLessThanOrEqual(25);
    }
  });

  it('refuses a stream file for several cameras, and says what fits when the bus is full', async () => {
    const file = await runCli(['capture', '--virtual', '--camera', 'a', '--camera', 'b', '-o', path.join(work, 'x.mjpeg')]);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/a folder each: give -o DIR\//);
    const full = await runCli(['capture', '--virtual', '--camera', 'a=YUYV:640x480@30', '--camera', 'b=YUYV:640x480@30', '--frames', '5', '-o', `${path.join(work, 'full')}/`, '-q']);
    expect(full.code).toBe(5);
    expect(full.stderr).toMatch(/camera b: YUY2 640x480 at 30 fps cannot stream now: .*held by 'a'.*YUY2 640x480 at 5 fps would fit/);
    expect(full.stderr).toMatch(/uvc-capture plan/);
  });
});
