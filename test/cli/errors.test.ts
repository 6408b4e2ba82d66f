/**
 * The ways a command line goes wrong, each with a clear message and its documented exit code (2 usage, 3 no camera),
 * and --help for every command.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listCameras } from '../../src/camera/index.js';
import { runCli } from './run-cli.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-cli-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('usage errors exit 2 with a message saying what is wrong', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a bad number', ['--virtual', '--frames', 'abc'], /option '-n, --frames <n>' argument 'abc' is invalid\. expected a whole number ≥ 1/],
    ['an unknown flag', ['--virtual', '--framez', '3'], /unknown option '--framez'[\s\S]*Did you mean --frames\?/],
    ['a bad size', ['--virtual', '--size', '640'], /argument '640' is invalid\. expected WIDTHxHEIGHT/],
    ['a mistyped command', ['lsit'], /unknown command 'lsit' \(did you mean list\?\)/],
    ['a format the camera lacks', ['--virtual', '--format', 'H264', '--frames', '1', '-o', 'x/'], /the device has no H264 format \(it has: YUY2, MJPG\)[\s\S]*Its modes: YUY2 640x480/],
    ['an unknown control', ['--virtual', '--set', 'sharpnes=3', '--frames', '1', '-o', 'x/'], /the camera has no control 'sharpnes'[\s\S]*Its controls: .*brightness/],
    ['a value out of range', ['--virtual', '--set', 'brightness=1000', '--frames', '1', '-o', 'x/'], /^uvc-capture: cannot set brightness=1000: 1000 is outside the device's range -64…64$/m],
    ['a bad menu label', ['--virtual', '--set', 'power_line_frequency=70hz', '--frames', '1', '-o', 'x/'], /power_line_frequency takes one of disabled \(0\), 50hz \(1\), 60hz \(2\)/],
    ['an unknown virtual option', ['--virtual', '--virtual-option', 'sped=super'], /unknown virtual camera option 'sped'/],
    ['a virtual option the camera refuses', ['--virtual', '--virtual-option', 'speed=warp'], /bad virtual camera options: .*speed must be one of 'full', 'high', 'super'/],
    ['an output it cannot write', ['--virtual', '--frames', '1', '-o', 'out.txt'], /cannot tell what to write to 'out\.txt'/],
    ['a stream file of the wrong format', ['--virtual', '-f', 'YUYV', '--frames', '1', '-o', 'out.mjpeg'], /out\.mjpeg holds mjpeg frames, but the camera streams YUY2/],
    ['--png into a stream file', ['--virtual', '--png', '--frames', '1', '-o', 'out.yuv'], /--png needs a directory output/],
    ['conflicting flags', ['--virtual', '--keep-errored', '--drop-errored'], /option '--(keep|drop)-errored' cannot be used with option '--(keep|drop)-errored'/],
    ['--unplug-test on a real camera', ['check', '--unplug-test'], /--unplug-test needs --virtual/],
    ['--virtual with a camera name', ['info', '1-2', '--virtual'], /--virtual and a camera name exclude each other/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const result = await runCli(args, { cwd: work });
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    });
  }
});

describe('no camera', () => {
  it('a camera that is not there: exit 3, saying what is attached', async () => {
    const result = await runCli(['--camera', 'ffff:fffe', '--frames', '1', '-o', 'x/'], { cwd: work });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no camera matches "ffff:fffe": (no UVC camera is attached|attached: )/);
    expect(result.stderr).toContain('--virtual');
  });

  it('with none attached, capture says so and suggests --virtual, never faking one (exit 3)', async () => {
    const attached = await listCameras();
    const result = await runCli(['--frames', '1', '-o', 'none/'], { cwd: work });
    if (attached.length === 0) {
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/^uvc-capture: no UVC camera is attached( \(there is no \/\S+ here: .*\))?\.\n.*add --virtual to use the built-in virtual camera/m);
      expect(result.stdout).toBe('');
    } else {
      // A camera is plugged into this machine: then it is the one used, and said so.
      expect(result.stderr).toMatch(/^Camera: .*bus \d{3} device \d{3}\)/m);
    }
  });

  it('--fallback-virtual uses a real camera when there is one, else the virtual one, and says which', async () => {
    const attached = await listCameras();
    const result = await runCli(['--fallback-virtual', '--virtual-option', 'pace=fast', '--frames', '3', '-o', 'fallback/', '--json'], { cwd: work });
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { frames: number; camera: { transport: string } };
    expect(summary.frames).toBe(3);
    if (attached.length === 0) {
      expect(result.stderr).toContain('No camera attached: using the built-in virtual camera (--fallback-virtual).');
      expect(summary.camera.transport).toBe('virtual');
    } else {
      expect(result.stderr).toContain('a real camera: --fallback-virtual did not need the virtual one');
      expect(summary.camera.transport).toBe('native');
    }
  });
});

describe('--help', () => {
  for (const command of ['capture', 'list', 'info', 'check', 'preview', 'serve-usbip']) {
    it(`${command} --help describes its flags and the exit codes`, async () => {
      const result = await runCli([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: uvc-capture ${command} \\[options\\]`));
      expect(result.stdout).toContain('Exit codes:');
      expect(result.stdout).toContain('130  interrupted by Ctrl-C');
    });
  }

  it('the top-level help lists the commands, the capture flags, examples and exit codes', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const text of ['list [options]', 'check [options] [camera]', 'serve-usbip [options]', 'Capture options (the default command', '-n, --frames <n>', 'Examples:', '3    no camera attached']) {
      expect(result.stdout).toContain(text);
    }
    // --help-virtual stands alone (the package ships no src/ to point at) and names every option and fault.
    const virtual = await runCli(['--help-virtual']);
    expect(virtual.code).toBe(0);
    expect(virtual.stdout).not.toMatch(/src\/|README/);
    for (const key of ['speed', 'transfer', 'uvcVersion', 'pace', 'formats', 'serial', 'omitHuffmanTables', 'frameCache', 'seed', 'clockDriftPpm', 'idlePackets', 'bulkMaxPayloadTransferSize']) {
      expect(virtual.stdout).toMatch(new RegExp(`^  ${key} +\\S`, 'm'));
    }
    for (const fault of ['packetLossRate', 'errorFrames', 'missingEof', 'shortFrames', 'stallRequests', 'ignoreRequests', 'slowRequests', 'unplugAtFrame', 'unplugAfterMs']) {
      expect(virtual.stdout).toMatch(new RegExp(`^  faults\\.${fault} +\\S`, 'm'));
    }
    const version = await runCli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
