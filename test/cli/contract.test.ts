/**
 * The command line's contract, one test per promise (issue 16): where frames may be written (checked before the
 * camera is opened, with the system's own reason, never a spin), the size rule, JSON when a run fails before it
 * streams, a closed pipe as a normal end, no binary on a terminal, the device's range in messages, one voice for
 * every error, a container without USB said plainly, tables that fit the terminal, serve-usbip's and check's words
 * matching what happened, and no `.partial` file after a double Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importDevice } from '../usbip/usbip-test-client.js';
import { BIN, ROOT, runCli, startCli } from './run-cli.js';
import { HAS_NAMESPACES, HAS_PTY, runInNamespace, runInTerminal } from './system-tools.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-cli-contract-'));
afterAll(() => {
  chmodSync(work, 0o755);
  rmSync(work, { recursive: true, force: true });
});

const ROOT_USER = process.getuid?.() === 0;
if (!HAS_PTY) console.log('contract tests needing a terminal skipped: util-linux `script` cannot give a child a pseudo-terminal here');
if (!HAS_NAMESPACES) console.log('contract tests needing a private mount namespace skipped: `unshare -rm` is not allowed here');

interface JsonFailure {
  error: { code: string; message: string };
  exitCode: number;
}

/** Every line of stderr that reports a failure speaks in one voice, and says no POSIX code twice. */
function expectOneVoice(stderr: string): void {
  expect(stderr).not.toMatch(/^error: /m);
  expect(stderr).not.toMatch(/\b(E[A-Z]{3,9}): [^\n]*\b\1: /);
  expect(stderr).not.toMatch(/^uvc-capture: E[A-Z]{3,9}: /m);
}

describe('the output location is checked before the camera is opened', () => {
  it('/proc: exits 1 at once, naming the kernel pseudo-filesystem (it used to spin a core forever)', async () => {
    const result = await runCli(['--virtual', '--frames', '2', '-o', '/proc/frames/', '--json'], { timeoutMs: 30_000 });
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^uvc-capture: cannot write to \/proc\/frames: \/proc is on proc, a kernel pseudo-filesystem that holds no files$/m);
    expect(result.stderr).not.toContain('Camera:'); // no camera was opened
    expect(JSON.parse(result.stdout) as JsonFailure).toEqual({ error: { code: 'EINVAL', message: expect.stringContaining('/proc is on proc') }, exitCode: 1 });
  });

  it('/sys too, and a stream file there', async () => {
    const result = await runCli(['--virtual', '--frames', '2', '-o', '/sys/kernel/clip.mjpeg'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot write to \/sys\/kernel\/clip\.mjpeg: \/sys\/kernel is on sysfs, a kernel pseudo-filesystem/);
  });

  it('a path through a file: ENOTDIR, said as such', async () => {
    const file = path.join(work, 'a-file');
    writeFileSync(file, 'x');
    const result = await runCli(['--virtual', '--frames', '1', '-o', path.join(file, 'frames') + '/', '--json']);
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as JsonFailure).error.code).toBe('ENOTDIR');
    expect(result.stderr).toContain(`${file} is a file, not a directory`);
  });

  it.skipIf(!HAS_NAMESPACES)('a read-only filesystem says EROFS (not ENOENT), for a directory to make and for a stream file', async () => {
    const mount = path.join(work, 'read-only');
    mkdirSync(mount);
    const setup = `mount -t tmpfs -o ro tmpfs ${mount}`;
    const dir = await runInNamespace(setup, ['--virtual', '--frames', '1', '-o', `${mount}/deep/frames/`, '--json']);
    expect(dir.code, dir.stderr).toBe(1);
    expect(dir.stderr).toMatch(new RegExp(`^uvc-capture: cannot write to ${mount}/deep/frames: ${mount}: read-only file system \\(EROFS\\)$`, 'm'));
    expect((JSON.parse(dir.stdout) as JsonFailure).error.code).toBe('EROFS');
    const file = await runInNamespace(setup, ['--virtual', '--frames', '1', '-o', `${mount}/clip.mjpeg`]);
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('read-only file system (EROFS)');
  });

  it.skipIf(ROOT_USER)('a directory this user may not write: EACCES (needs a non-root user)', async () => {
    const locked = path.join(work, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const result = await runCli(['--virtual', '--frames', '1', '-o', `${locked}/frames/`, '--json']);
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as JsonFailure).error.code).toBe('EACCES');
    expect(result.stderr).toContain('permission denied (EACCES)');
  });
});

describe('the size rule: --size is exact, the rate the nearest', () => {
  it('a size the camera does not have is a usage error (exit 2) listing its sizes, with or without -q', async () => {
    for (const quiet of [[], ['-q']]) {
      const result = await runCli(['--virtual', '-s', '99999x1', '--frames', '1', '-o', path.join(work, 'size') + '/', ...quiet]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^uvc-capture: the camera has no 99999x1 frame size\nIts sizes: 640x480, 1280x720, 1920x1080 \(see `uvc-capture info`\)\.$/m);
      expect(existsSync(path.join(work, 'size'))).toBe(false);
    }
    const yuyv = await runCli(['--virtual', '-f', 'YUYV', '-s', '1920x1080', '--frames', '1', '-o', path.join(work, 'size') + '/']);
    expect(yuyv.code).toBe(2);
    expect(yuyv.stderr).toContain('the camera has no 1920x1080 frame size in YUY2\nIts sizes in YUY2: 640x480, 1280x720');
  });

  it('a rate the camera lacks gets the nearest, said as a warning even with -q', async () => {
    const result = await runCli(['--virtual', '--virtual-option', 'pace=fast', '-r', '24', '-q', '--frames', '1', '-o', path.join(work, 'rate') + '/', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('warning: the camera has no 24 fps at 640x480 in YUY2; using the nearest rate it offers: 30 fps.\n');
    expect((JSON.parse(result.stdout) as { mode: { fps: number } }).mode.fps).toBe(30);
  });
});

describe('--json answers in JSON even when the run fails before streaming', () => {
  const cases: Array<[string, string[], number, string]> = [
    ['a bad flag value', ['--virtual', '--frames', 'abc', '--json'], 2, 'EINVAL'],
    ['an unknown command', ['lsit', '--json'], 2, 'EINVAL'],
    ['a camera that is not there', ['--camera', 'ffff:fffe', '--frames', '1', '--json'], 3, 'ENOENT'],
    ['a control the camera lacks', ['--virtual', '--set', 'sharpnes=3', '--frames', '1', '--json'], 2, 'EINVAL'],
    ['info of a camera that is not there', ['info', 'ffff:fffe', '--json'], 3, 'ENOENT'],
  ];
  for (const [what, args, exitCode, code] of cases) {
    it(what, async () => {
      const result = await runCli(args, { cwd: work });
      expect(result.code).toBe(exitCode);
      const json = JSON.parse(result.stdout) as JsonFailure;
      expect(json).toEqual({ error: { code, message: expect.any(String) }, exitCode });
      // The same message is on stderr for people, in the one voice.
      expect(result.stderr).toContain(`uvc-capture: ${json.error.message.split('\n')[0]}`);
      expectOneVoice(result.stderr);
    });
  }

  it('with -o -, on stderr: stdout belongs to the frames', async () => {
    const result = await runCli(['--virtual', '-s', '1x1', '-o', '-', '--json'], { cwd: work, binaryStdout: true });
    expect(result.code).toBe(2);
    expect(result.stdoutBytes!.length).toBe(0);
    expect(JSON.parse(result.stderr.slice(result.stderr.indexOf('{'))) as JsonFailure).toMatchObject({ error: { code: 'ENOENT' }, exitCode: 2 });
  });
});

describe('stdout', () => {
  it('-o - | head -c 1000: the reader going away is a normal end (exit 0), not "write EPIPE"', async () => {
    const child = spawn(process.execPath, [BIN, '--virtual', '-f', 'MJPEG', '-o', '-', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let taken = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        taken += chunk.length;
        if (taken >= 1000) {
          child.stdout.destroy(); // what head does after 1000 bytes
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/EPIPE/);
    const summary = JSON.parse(stderr.slice(stderr.indexOf('{'))) as { stopped: string; exitCode: number; output: { kind: string } };
    expect(summary).toMatchObject({ stopped: 'closed', exitCode: 0, output: { kind: 'stdout' } });
  });

  it.skipIf(!HAS_PTY)('-o - on a terminal is refused (exit 2), as curl refuses binary output there', async () => {
    const result = await runInTerminal(['--virtual', '-f', 'MJPEG', '--frames', '3', '-o', '-'], 100);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('uvc-capture: refusing to write binary frames to a terminal\nPipe them to a program (-o - | ffplay -f mjpeg -)');
    expect(result.stdout).not.toMatch(/\xff\xd8|JFIF/);
  });
});

describe('controls and messages', () => {
  it('--set brightness=999999 names the device\'s range, not the 16-bit wire range', async () => {
    const result = await runCli(['--virtual', '-q', '--set', 'brightness=999999', '--frames', '1', '-o', path.join(work, 'b') + '/']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("uvc-capture: cannot set brightness=999999: 999999 is outside the device's range -64…64\n");
  });

  it('an auto-owned control names the mode that owns it and how to hand it over', async () => {
    const result = await runCli(['--virtual', '--set', 'white_balance_temperature=4000', '--frames', '1', '-o', path.join(work, 'wb') + '/']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^uvc-capture: cannot set white_balance_temperature=4000: .*wrong state/m);
    expect(result.stderr).toContain('white_balance_temperature_auto owns white_balance_temperature while it is on: turn white_balance_temperature_auto off first (e.g. --set white_balance_temperature_auto=off before --set white_balance_temperature=…).');
    const handed = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--set', 'white_balance_temperature_auto=off', '--set', 'white_balance_temperature=4000', '--frames', '1', '-o', path.join(work, 'wb') + '/']);
    expect(handed.code, handed.stderr).toBe(0);
  });

  it('compound values are taken as info shows them as well as --set writes them', async () => {
    for (const value of ['pan=3600,tilt=-3600', 'pan=3600 tilt=-3600', 'pan 3600, tilt -3600']) {
      const result = await runCli(['--virtual', '--virtual-option', 'pace=fast', '--set', `pan_tilt_absolute=${value}`, '--frames', '1', '-o', path.join(work, 'pt') + '/']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('Set pan_tilt_absolute = pan=3600,tilt=-3600');
    }
  });

  it('every failure in one voice: "uvc-capture: …", commander\'s errors too, no code said twice', async () => {
    for (const args of [['--virtual', '--framez', '3'], ['--virtual', '--frames', '0'], ['--virtual', '--set', 'brightness=1000', '-o', 'x/'], ['--camera', 'ffff:fffe'], ['info', '--virtual', '--size', '1x1']]) {
      const result = await runCli(args, { cwd: work });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/^uvc-capture: \S/m);
      expectOneVoice(result.stderr);
    }
  });
});

describe('list and info', () => {
  it('with no USB visible (a container without /dev/bus/usb), list says so instead of only "no camera"', async () => {
    const visible = existsSync('/sys/bus/usb/devices') && existsSync('/dev/bus/usb');
    if (visible && !HAS_NAMESPACES) {
      console.log('list without /dev/bus/usb: skipped (this machine has USB and no private mount namespace to hide it)');
      return;
    }
    // Where this machine has USB, hide /dev/bus/usb in a namespace of this process's own.
    const result = visible ? await runInNamespace('mount -t tmpfs tmpfs /dev/bus', ['list']) : await runCli(['list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^No UVC camera found: there is no \/(sys\/bus\/usb\/devices|dev\/bus\/usb) here: .*\.\nPass the devices in, or try the built-in virtual camera/);
  });

  it('info fits the terminal: COLUMNS, or the width of the terminal it writes to', async () => {
    const columns = (text: string) => Math.max(...text.split('\n').map((l) => [...l].length));
    const wide = await runCli(['info', '--virtual']);
    expect(columns(wide.stdout)).toBeGreaterThan(120); // piped, rows stay whole (for grep)
    for (const width of [80, 100]) {
      const fitted = await runCli(['info', '--virtual'], { env: { COLUMNS: String(width) } });
      expect(fitted.code).toBe(0);
      expect(columns(fitted.stdout)).toBeLessThanOrEqual(width);
      expect(fitted.stdout).toMatch(/^ {2}brightness +integer +-64…64 +0 +0 +rw$/m);
    }
    if (HAS_PTY) {
      const terminal = await runInTerminal(['info', '--virtual'], 90);
      expect(terminal.code).toBe(0);
      expect(columns(terminal.stdout)).toBeLessThanOrEqual(90);
      expect(terminal.stdout).toContain('Controls (17):');
    }
  });
});

describe('serve-usbip and check say what happened', () => {
  it('serve-usbip stopping with nothing attached does not claim a host saw an unplug; with one, names it', async () => {
    const idle = startCli(['serve-usbip', '--port', '0']);
    await idle.waitForStdout(/Ctrl-C stops the export/);
    idle.child.kill('SIGINT');
    const stopped = await idle.done;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain('Stopping: no host had the camera attached.');
    expect(stopped.stderr).not.toContain('unplugged');

    const used = startCli(['serve-usbip', '--port', '0', '--json']);
    const listening = JSON.parse((await used.waitForStdout(/^\{.*"event":"listening".*\}$/m))[0]) as { port: number };
    const imported = await importDevice(listening.port, '1-1');
    const attached = JSON.parse((await used.waitForStdout(/^\{.*"event":"attach".*\}$/m))[0]) as { remote: string };
    used.child.kill('SIGINT');
    const result = await used.done;
    imported.client?.close();
    expect(result.stderr).toContain(`Stopping: ${attached.remote} sees the camera unplugged.`);
  });

  it('check under packet loss: frames that all arrived damaged are said to have arrived, not "no frame"', async () => {
    // A YUYV frame is ~200 iso packets: at 5 % loss a good one is a 1-in-30 000 event, so every frame is damaged.
    const result = await runCli(
      ['check', '--virtual', '--virtual-option', 'faults.packetLossRate=0.05', '--frames-per-mode', '3', '--seconds-per-mode', '1', '--cycles', '1', '--json'],
      { timeoutMs: 120_000 },
    );
    expect(result.code).toBe(6);
    const report = JSON.parse(result.stdout) as { results: Array<{ name: string; status: string; detail: string }> };
    const streams = report.results.filter((r) => r.name.startsWith('stream YUY2'));
    expect(streams.map((s) => s.name)).toEqual(['stream YUY2 640x480@30', 'stream YUY2 1280x720@10']);
    for (const stream of streams) {
      expect(stream.status).toBe('fail');
      expect(stream.detail).toMatch(/^\d+ frames arrived in 3 s, every one damaged \(flagged errored: lost packets, the ERR bit, a short frame\); none good$/);
    }
  }, 150_000);
});

describe('a double Ctrl-C', () => {
  it('quits at once and leaves no .partial file behind, every time', async () => {
    for (let run = 0; run < 5; run++) {
      const dir = path.join(work, `double-${run}`);
      // PNGs too: more file operations in flight, more chances to interrupt one.
      const cli = startCli(['--virtual', '--virtual-option', 'pace=fast', '-f', 'YUYV', '--png', '-o', dir, '--no-progress']);
      for (let i = 0; i < 400 && !(existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('frame-'))); i++) await new Promise((r) => setTimeout(r, 25));
      cli.child.kill('SIGINT');
      // The second once the first is being handled (two at once may reach the process as one signal).
      await cli.waitForStderr(/Stopping after the frame in hand/);
      cli.child.kill('SIGINT');
      const result = await cli.done;
      // 130: quit by the second (also when it lands while the command winds up, after the capture closed every
      // file: src/cli/interrupts.ts keeps a handler then); 0: the first had already stopped the capture cleanly
      // (no target: Ctrl-C ends it). Never killed by the signal itself, with no exit code.
      expect([130, 0], `${result.stderr} (signal ${result.signal})`).toContain(result.code);
      const names = readdirSync(dir);
      expect(names.filter((n) => n.endsWith('.partial')), `run ${run}`).toEqual([]);
      expect(names.filter((n) => !/^frame-\d{6}\.(yuv|png)$/.test(n))).toEqual([]);
    }
  }, 120_000);
});
