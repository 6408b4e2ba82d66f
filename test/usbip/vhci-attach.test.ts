/**
 * attachToVhci against a stand-in sysfs directory (the real one needs a kernel: the rig's vhci-direct-attach
 * check covers that, and `detach`). Here: port choice, the line written to `attach`, and the errors.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attachToVhci } from '../../src/usbip/vhci-attach.js';
import { isUvcError } from '../../src/errors.js';
import { PatternDevice } from '../../rig/guest/lib/pattern-device.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vhci-'));
  await writeFile(
    join(dir, 'status'),
    'hub port sta spd dev      sockfd local_busid\nhs  0000 006 003 00010002 000003 1-1\nhs  0001 004 000 00000000 000000 0-0\nss  0015 004 000 00000000 000000 0-0\n',
  );
  await writeFile(join(dir, 'attach'), '');
  await writeFile(join(dir, 'detach'), '');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('attachToVhci', () => {
  it('writes "<port> <sockfd> <devid> <speed>" for the first free port of the model’s hub', async () => {
    const a = await attachToVhci({ model: new PatternDevice(), vhci: dir, busnum: 3, devnum: 7 });
    expect(a.port).toBe(1);
    const line = await readFile(join(dir, 'attach'), 'utf8');
    expect(line).toMatch(/^1 \d+ 196615 3$/); // devid 3 << 16 | 7, USB_SPEED_HIGH
    // No kernel holds the other end here, so the connection is gone at once: the session sees the host leave.
    expect((await a.session.closed).reason).toBe('host-closed');
    await a.detach();
  });

  it('refuses an unplugged model, a missing vhci and a full hub', async () => {
    const unplugged = new PatternDevice();
    unplugged.unplug();
    await expect(attachToVhci({ model: unplugged, vhci: dir })).rejects.toSatisfy((e: unknown) => isUvcError(e, 'ENODEV'));
    await expect(attachToVhci({ model: new PatternDevice(), vhci: join(dir, 'nope') })).rejects.toSatisfy((e: unknown) => isUvcError(e, 'ENOENT'));
    await writeFile(join(dir, 'status'), 'hub port sta spd dev      sockfd local_busid\nhs  0000 006 003 00010002 000003 1-1\n');
    await expect(attachToVhci({ model: new PatternDevice(), vhci: dir })).rejects.toSatisfy((e: unknown) => isUvcError(e, 'EBUSY'));
  });
});
