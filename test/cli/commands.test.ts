/** list, info, check and serve-usbip, run as the real binary. */
import { describe, expect, it } from 'vitest';
import { listCameras } from '../../src/camera/index.js';
import { importDevice, requestDevlist } from '../usbip/usbip-test-client.js';
import { runCli, startCli } from './run-cli.js';

interface CheckJson {
  passed: boolean;
  counts: { pass: number; fail: number; warn: number; skip: number };
  results: Array<{ group: string; name: string; status: string; detail: string }>;
}

describe('list', () => {
  it('says clearly when no camera is attached (or lists those that are)', async () => {
    const attached = await listCameras();
    const result = await runCli(['list']);
    expect(result.code).toBe(0);
    if (attached.length === 0) {
      expect(result.stdout).toMatch(/^No UVC camera found(: there is no \/\S+ here: .*)?\.\n(Plug one in|Pass the devices in), or try the built-in virtual camera: uvc-capture --virtual/);
    }
    else expect(result.stdout).toMatch(new RegExp(`^${attached.length} cameras?:`));
    const json = await runCli(['list', '--json']);
    expect((JSON.parse(json.stdout) as unknown[]).length).toBe(attached.length);
  });

  it('lists the virtual camera with --virtual: id, vid:pid, name, serial, speed, UVC version', async () => {
    const result = await runCli(['list', '--virtual', '--virtual-option', 'serial=VC-7', '--virtual-option', 'uvcVersion=1.5', '--virtual-option', 'speed=super']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ {2}virtual {2}1209:0001 {2}uvc-capture Virtual UVC Camera\n {6}serial VC-7, super speed, UVC 1\.50, virtual \(--virtual\)/);
    const json = JSON.parse((await runCli(['list', '--virtual', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(json.at(-1)).toMatchObject({ id: 'virtual', transport: 'virtual', vendorId: 0x1209, productId: 1, speed: 'high', uvcVersion: '1.10', access: 'ok', serial: '0001' });
  });
});

describe('info', () => {
  it('shows formats, sizes, rates, and controls with ranges, defaults, current values and menus', async () => {
    const result = await runCli(['info', '--virtual']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/YUY2 \(uncompressed, 16 bpp\) +640x480 +30, 15, 5 +30 +iso +614400/);
    expect(result.stdout).toMatch(/MJPG \(mjpeg\) +1920x1080 +30, 15, 5/);
    expect(result.stdout).toContain('Current format: YUY2 640×480 @ 30 fps');
    expect(result.stdout).toMatch(/^ {2}brightness +integer +-64…64 +0 +0 +rw$/m);
    expect(result.stdout).toMatch(/^ {2}hue +integer +-18000…18000 step 100 +0 +0 +rw$/m);
    expect(result.stdout).toMatch(/^ {2}power_line_frequency +menu +disabled=0 50hz=1 60hz=2 +.* +50hz \(1\) +rw$/m);
    expect(result.stdout).toMatch(/^ {2}pan_tilt_absolute +compound +pan -36000…36000 step 3600, tilt -36000…36000 step 3600 +pan=0,tilt=0 +pan=0,tilt=0 +rw$/m);
    expect(result.stdout).toMatch(/^ {2}white_balance_temperature_auto +boolean +on\/off +on +on +rw$/m);
    expect(result.stdout).toMatch(/^ {2}white_balance_temperature +integer +2800…6500 step 10 +\d+ +\d+ +rw auto-update auto-owned$/m);
    // Extension unit controls named from their unit's GUID (the virtual camera's own), with their size.
    expect(result.stdout).toContain('Extension unit controls:\n  xu3_1: uvc-capture virtual camera: test pattern (unit 3 {6b1d3a9e-4c2f-4e7a-9f5d-7a3c0b8e2d14}, selector 1, 1 byte)');
    expect(result.stdout).toContain('Descriptors: no problems found.');
  });

  it('--json gives the same as one object', async () => {
    const result = await runCli(['info', '--virtual', '--json']);
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout) as {
      camera: { vendorId: number; transport: string };
      formats: Array<{ fourcc: string; frames: Array<{ width: number; fps: number[] }> }>;
      format: { fourcc: string };
      controls: Array<{ name: string; min: unknown; max: unknown; default: unknown; value: unknown; menu?: unknown[] }>;
      descriptorWarnings: string[];
    };
    expect(info.camera).toMatchObject({ vendorId: 0x1209, transport: 'virtual' });
    expect(info.formats.map((f) => f.fourcc)).toEqual(['YUY2', 'MJPG']);
    expect(info.format.fourcc).toBe('YUY2');
    expect(info.controls.find((c) => c.name === 'contrast')).toMatchObject({ min: 0, max: 200, default: 100, value: 100 });
    expect(info.controls.find((c) => c.name === 'power_line_frequency')!.menu).toHaveLength(3);
    expect(info.descriptorWarnings).toEqual([]);
    expect(info).not.toHaveProperty('functions'); // one video function: `controls` is all of them
  });

  it('a device with two video functions: the controls of each, under its own VideoControl interface', async () => {
    const args = ['info', '--virtual', '--virtual-option', 'profile=customer-dual'];
    const json = await runCli([...args, '--json']);
    expect(json.code).toBe(0);
    const info = JSON.parse(json.stdout) as {
      format: { interfaceNumber: number; fourcc: string };
      controls: Array<{ name: string }>;
      functions: Array<{ videoControlInterface: number; streamingInterfaces: number[]; controls: Array<{ name: string; unit: number }>; error?: string }>;
    };
    expect(info.functions.map((f) => [f.videoControlInterface, f.streamingInterfaces, f.error])).toEqual([
      [0, [1], undefined],
      [2, [3], undefined],
    ]);
    for (const f of info.functions) expect(f.controls.find((c) => c.name === 'brightness')).toMatchObject({ unit: 2 });
    // Reading the second function's controls leaves the first function's stream current, as it was.
    expect(info.format).toMatchObject({ interfaceNumber: 1, fourcc: 'MJPG' });
    expect(info.controls.map((c) => c.name)).toEqual(info.functions[0]!.controls.map((c) => c.name));
    const text = await runCli(args);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Controls of video function 1 (VideoControl interface 0, streams on IF 1) (5):');
    expect(text.stdout).toContain('Controls of video function 2 (VideoControl interface 2, streams on IF 3) (5):');
  });
});

describe('check', () => {
  it('check --virtual passes every check and exits 0', async () => {
    const result = await runCli(['check', '--virtual', '--json']);
    const report = JSON.parse(result.stdout) as CheckJson;
    const failed = report.results.filter((r) => r.status === 'fail');
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(result.code).toBe(0);
    expect(report.passed).toBe(true);
    const groups = new Set(report.results.map((r) => r.group));
    for (const group of ['descriptors', 'negotiation', 'streaming', 'frame-rate', 'controls', 'cycles']) expect(groups).toContain(group);
    // The stamps of the virtual camera are read from every mode's frames.
    expect(report.results.filter((r) => r.name.startsWith('stamps ')).length).toBe(5);
    expect(report.results.find((r) => r.name === 'control brightness')!.status).toBe('pass');
  });

  it('--unplug-test: waiters wake, ENXIO, close works, the camera comes back; a table on stdout', async () => {
    const result = await runCli(['check', '--virtual', '--unplug-test', '--frames-per-mode', '4']);
    expect(result.stdout).toMatch(/^STATUS +CHECK +DETAIL$/m);
    for (const name of ['waiters wake', 'disconnect event', 'ENXIO after unplug', 'close after unplug', 'replug']) {
      expect(result.stdout).toMatch(new RegExp(`^pass +${name} `, 'm'));
    }
    expect(result.stdout).toMatch(/^Result: PASS: \d+ checks passed, 0 failed/m);
    expect(result.code).toBe(0);
  });

  it('a camera that fails a check makes it exit 6, naming the check', async () => {
    // The camera stalls every SET_CUR of brightness (processing unit 2, selector 2).
    const stall = JSON.stringify([{ request: 1, entity: 2, selector: 2 }]);
    const result = await runCli(['check', '--virtual', '--virtual-option', `faults.stallRequests=${stall}`, '--virtual-option', 'pace=fast', '--frames-per-mode', '3', '--json']);
    expect(result.code).toBe(6);
    const report = JSON.parse(result.stdout) as CheckJson;
    expect(report.passed).toBe(false);
    const brightness = report.results.find((r) => r.name === 'control brightness')!;
    expect(brightness.status).toBe('fail');
    expect(brightness.detail).toMatch(/set -64: /);
  });
});

describe('serve-usbip', () => {
  it('exports the virtual camera on 127.0.0.1; a USB/IP host lists and imports it; Ctrl-C stops', async () => {
    const cli = startCli(['serve-usbip', '--port', '0', '--busid', '3-1', '--speed', 'super', '--json']);
    const line = (await cli.waitForStdout(/^\{.*"event":"listening".*\}$/m))[0];
    const listening = JSON.parse(line) as { host: string; port: number; busid: string; vendorId: number };
    expect(listening).toMatchObject({ host: '127.0.0.1', busid: '3-1', vendorId: 0x1209 });
    const { devices } = await requestDevlist(listening.port);
    expect(devices.map((d) => [d.busid, d.idVendor, d.idProduct])).toEqual([['3-1', 0x1209, 0x0001]]);
    const imported = await importDevice(listening.port, '3-1');
    expect(imported.status).toBe(0);
    await cli.waitForStdout(/"event":"attach"/);
    cli.child.kill('SIGINT');
    const result = await cli.done;
    imported.client?.close();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/"event":"detach","busid":"3-1"/);
  });

  it('tells people how to attach it', async () => {
    const cli = startCli(['serve-usbip', '--port', '0']);
    await cli.waitForStdout(/Ctrl-C stops the export/);
    expect(cli.stdout).toMatch(/Exporting the virtual camera \(1209:0001, high speed\) as bus ID 1-1 on 127\.0\.0\.1:\d+/);
    expect(cli.stdout).toMatch(/usbip --tcp-port \d+ attach -r 127\.0\.0\.1 -b 1-1/);
    cli.child.kill('SIGINT');
    expect((await cli.done).code).toBe(0);
  });
});
