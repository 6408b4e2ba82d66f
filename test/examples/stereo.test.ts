/**
 * examples/stereo.mjs, run as a user runs it (node, the built package by its own name): two virtual cameras on one
 * virtual bus that cannot both have 640x480@30 YUYV; the plan lowers them, both stream, frames come in pairs.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../examples/stereo.mjs', import.meta.url));

describe('examples/stereo.mjs', () => {
  it('plans, lowers what does not fit, streams two cameras and pairs their frames', async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [script], { timeout: 50_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/left \+ right at 640x480@30 do not fit one bus \(124 of 100 µs\)/);
    expect(result.stdout).toMatch(/lowering left to YUY2 640x480 @ 15 fps\nlowering right to YUY2 640x480 @ 15 fps/);
    expect(result.stdout).toMatch(/left: YUY2 640x480 @ 15 fps, alt setting 5\nright: YUY2 640x480 @ 15 fps, alt setting 5/);
    const pairs = [...result.stdout.matchAll(/pair \d+: left #(\d+), right #(\d+), right − left = (-?[\d.]+) ms/g)];
    expect(pairs).toHaveLength(10);
    // Within half a frame interval at 15 fps, in order.
    for (const [, , , delta] of pairs) expect(Math.abs(Number(delta))).toBeLessThanOrEqual(1000 / 15 / 2);
    for (let i = 1; i < pairs.length; i++) expect(Number(pairs[i]![1])).toBeGreaterThan(Number(pairs[i - 1]![1]));
    expect(result.stdout).toMatch(/10 pairs, unpaired frames: left \d+, right \d+/);
  });
});
