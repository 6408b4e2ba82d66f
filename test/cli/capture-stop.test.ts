/**
 * How a capture ends when it is not allowed to finish: Ctrl-C (SIGINT) mid-capture stops cleanly and keeps every
 * complete frame (no partial file); an unplug mid-capture stops with a clear message, keeps every complete frame
 * and exits with the device-error code.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeJpegStamp, leftovers, listFrames, readBytes, splitJpegStream } from './frame-files.js';
import { runCli, startCli } from './run-cli.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-cli-stop-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function waitForFiles(dir: string, count: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if (readdirSync(dir).filter((f) => f.startsWith('frame-')).length >= count) return;
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`fewer than ${count} frames in ${dir}`);
}

describe('stopping a capture', () => {
  it('Ctrl-C mid-capture stops cleanly, keeps every frame written, leaves no partial file (exit 130: target not reached)', async () => {
    const dir = path.join(work, 'sigint');
    const cli = startCli(['--virtual', '-f', 'MJPEG', '--frames', '100000', '-o', dir, '--json']);
    await waitForFiles(dir, 15);
    cli.child.kill('SIGINT');
    const result = await cli.done;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('Stopping after the frame in hand');
    const summary = JSON.parse(result.stdout) as { frames: number; stopped: string; exitCode: number };
    expect(summary).toMatchObject({ stopped: 'interrupted', exitCode: 130 });
    const files = listFrames(dir, 'jpg');
    expect(files.length).toBe(summary.frames);
    expect(files.length).toBeGreaterThanOrEqual(15);
    expect(leftovers(dir)).toEqual([]);
    for (const file of files) {
      const decoded = await decodeJpegStamp(readBytes(path.join(dir, file)));
      expect(decoded.stamp).not.toBeNull();
    }
  });

  it('Ctrl-C ends a capture without a target normally (exit 0), a stream file holding whole frames only', async () => {
    const file = path.join(work, 'sigint.mjpeg');
    const cli = startCli(['--virtual', '-o', file]);
    await cli.waitForStderr(/until Ctrl-C/);
    await new Promise((r) => setTimeout(r, 1500));
    cli.child.kill('SIGINT');
    const result = await cli.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Captured (\d+) frames in .* \(interrupted\)/);
    const written = Number(/^Captured (\d+) frames/.exec(result.stdout)![1]);
    const frames = splitJpegStream(readBytes(file));
    expect(frames).toHaveLength(written);
    for (const jpeg of frames) expect((await decodeJpegStamp(jpeg)).stamp).not.toBeNull();
  });

  it('an unplug mid-capture stops with a clear message, keeps the complete frames, exits 5', async () => {
    const dir = path.join(work, 'unplug');
    const result = await runCli(['--virtual', '--virtual-option', 'faults.unplugAtFrame=40', '-f', 'MJPEG', '--frames', '100', '-o', dir, '--json']);
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/the camera went away \(unplugged\?\) after \d+ frames; stopped\. The (\d+) complete frames written are kept in /);
    const summary = JSON.parse(result.stdout) as { frames: number; stopped: string; exitCode: number };
    expect(summary).toMatchObject({ stopped: 'unplugged', exitCode: 5 });
    const files = listFrames(dir, 'jpg');
    expect(files).toHaveLength(summary.frames);
    expect(files.length).toBeGreaterThan(0);
    expect(leftovers(dir)).toEqual([]);
    const stamps = [];
    for (const f of files) stamps.push((await decodeJpegStamp(readBytes(path.join(dir, f)))).stamp!);
    // Frames 0…39 left the camera before it did; every file is one of them, whole.
    expect(Math.max(...stamps)).toBeLessThan(40);
    expect(Number(/The (\d+) complete frames/.exec(result.stderr)![1])).toBe(files.length);
  });
});
