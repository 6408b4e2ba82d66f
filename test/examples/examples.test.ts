/**
 * The examples are part of the documentation: each runs as a user would run it (node, the built package
 * resolved by its own name) on the virtual camera, and says what it promises.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  it('capture.mjs saves the frames it says it saved, as JPEG pictures, in a folder of its own, and counts losses as sequence gaps', async () => {
    const result = await run('capture.mjs', ['12', '--virtual']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/streaming MJPG 640x480 @ 30 fps/);
    const summary = /saved 12 frames in example-capture\/ \(sequences (\d+)…(\d+): (\d+) damaged, (\d+) lost\)/.exec(result.stdout);
    expect(summary, result.stdout).not.toBeNull();
    const [first, last, damaged, lost] = summary!.slice(1).map(Number) as [number, number, number, number];
    expect(lost).toBe(last - first + 1 - 12 - damaged);
    // Not the README's frames/ (a capture there would mix with it).
    expect(existsSync(path.join(work, 'frames'))).toBe(false);
    const files = readdirSync(path.join(work, 'example-capture')).sort();
    expect(files).toHaveLength(12);
    for (const file of files) {
      const jpeg = readFileSync(path.join(work, 'example-capture', file));
      expect([jpeg[0], jpeg[1], jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    }
  });

  it('controls.mjs sets, reads back, is refused out of range, hears the privacy switch, and puts back all it changed', async () => {
    const result = await run('controls.mjs', ['--virtual']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^brightness +integer +-64…64 +now 0$/m);
    expect(result.stdout).toMatch(/^white_balance_temperature_auto +boolean +on\/off +now true$/m);
    expect(result.stdout).toMatch(/^pan_tilt_absolute +compound +pan -36000…36000, tilt -36000…36000 +now \{"pan":0,"tilt":0\}$/m);
    expect(result.stdout).not.toContain('null…null');
    expect(result.stdout).toContain('brightness set to its maximum: reads 64');
    expect(result.stdout).toContain("refused as expected (ERANGE): brightness: 65 is outside the device's range -64…64");
    expect(result.stdout).toContain('power_line_frequency: 60hz (2)');
    expect(result.stdout).toContain('camera changed privacy to true');
    // Read back from the camera after restoring: what it found.
    expect(result.stdout).toContain('restored: brightness 0 (was 0), power_line_frequency 1 (was 1)');
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
