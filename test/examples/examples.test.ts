/**
 * The examples are part of the documentation: each runs as a user would run it (node, the built package
 * resolved by its own name) on the virtual camera, and says what it promises.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'uvc-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(examples, script), ...args], { cwd: work, timeout: 50_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('examples on the virtual camera', () => {
  it('capture.mjs saves the frames it says it saved, as JPEG pictures', async () => {
    const result = await run('capture.mjs', ['12', '--virtual']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/streaming MJPG 640x480 @ 30 fps/);
    expect(result.stdout).toMatch(/saved 12 frames in frames\//);
    const files = readdirSync(path.join(work, 'frames')).sort();
    expect(files).toHaveLength(12);
    for (const file of files) {
      const jpeg = readFileSync(path.join(work, 'frames', file));
      expect([jpeg[0], jpeg[1], jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    }
  });

  it('controls.mjs sets, reads back, is refused out of range, and hears the privacy switch', async () => {
    const result = await run('controls.mjs', ['--virtual']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^brightness +integer +-64…64 +now 0$/m);
    expect(result.stdout).toContain('brightness set to its maximum: reads 64');
    expect(result.stdout).toMatch(/refused as expected: ERANGE/);
    expect(result.stdout).toContain('power_line_frequency: 2');
    expect(result.stdout).toContain('camera changed privacy to true');
  });

  it('unplug.mjs sees the disconnect, gets its buffers back, then ENXIO and ENODEV, and closes', async () => {
    const result = await run('unplug.mjs', []);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('disconnect: the camera went away');
    expect(result.stdout).toMatch(/ENXIO after \d+ good frames/);
    expect(result.stdout).toContain('controls now answer ENODEV');
    expect(result.stdout.trimEnd().endsWith('closed cleanly')).toBe(true);
  });
});
