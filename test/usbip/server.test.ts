/**
 * The USB/IP server driven by a client that speaks the protocol as the kernel's vhci_hcd does, over real
 * loopback TCP, with the rig's pattern device (every byte predictable) behind it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startUsbipServer, type UsbipDetachEvent, type UsbipServer } from '../../src/usbip/server.js';
import { Errno, OpStatus, UrbTransferFlag, UsbipDirection } from '../../src/usbip/protocol.js';
import {
  FNV_OFFSET,
  INTERRUPT_REPORT_SIZE,
  ISO_ALT_BYTES,
  PATTERN_PID,
  PATTERN_VID,
  PatternDevice,
  PatternRequest,
  bulkStreamByte,
  echoByte,
  fnv1a,
  isoPacketLength,
  writeIsoPacket,
} from '../../rig/guest/lib/pattern-device.js';
import { importDevice, requestDevlist, type UsbipTestClient } from './usbip-test-client.js';

const VENDOR_IN = 0xc0;
const VENDOR_OUT = 0x40;

let device: PatternDevice;
let server: UsbipServer;
let client: UsbipTestClient | undefined;

beforeEach(async () => {
  device = new PatternDevice();
  server = await startUsbipServer({ devices: [{ busid: '1-1', model: device }], port: 0 });
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await server.close();
});

async function attach(): Promise<UsbipTestClient> {
  const r = await importDevice(server.port, '1-1');
  expect(r.status).toBe(OpStatus.OK);
  client = r.client!;
  return client;
}

async function configure(c: UsbipTestClient): Promise<void> {
  const r = await c.control({ bmRequestType: 0x00, bRequest: 0x09, wValue: 1, wIndex: 0, wLength: 0 });
  expect(r.header.status).toBe(0);
}

function nextDetach(): Promise<UsbipDetachEvent> {
  return new Promise((resolve) => server.once('detach', resolve));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('usbipd handshake', () => {
  it('lists the device with its descriptors’ facts and interfaces', async () => {
    const { header, devices } = await requestDevlist(server.port);
    expect(header.status).toBe(0);
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({
      busid: '1-1',
      busnum: 1,
      devnum: 2,
      speed: 3,
      idVendor: PATTERN_VID,
      idProduct: PATTERN_PID,
      bcdDevice: 0x0100,
      bConfigurationValue: 1,
      bNumConfigurations: 1,
      bNumInterfaces: 2,
      interfaces: [
        { bInterfaceClass: 0xff, bInterfaceSubClass: 0x00, bInterfaceProtocol: 0 },
        { bInterfaceClass: 0xff, bInterfaceSubClass: 0x01, bInterfaceProtocol: 0 },
      ],
    });
  });

  it('answers an unknown busid with ST_NODEV and a second importer with ST_DEV_BUSY', async () => {
    expect((await importDevice(server.port, '9-9')).status).toBe(OpStatus.NODEV);
    await attach();
    const second = await importDevice(server.port, '1-1');
    expect(second.status).toBe(OpStatus.DEV_BUSY);
  });

  it('imports: the reply describes the device and the connection carries URBs', async () => {
    const r = await importDevice(server.port, '1-1');
    client = r.client!;
    expect(r.device).toMatchObject({ busid: '1-1', idVendor: PATTERN_VID, idProduct: PATTERN_PID, speed: 3 });
    const d = await client.control({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 });
    expect(d.header.status).toBe(0);
    expect(d.header.actualLength).toBe(18);
    expect(d.data.readUInt16LE(8)).toBe(PATTERN_VID);
  });

  it('drops a peer that speaks another protocol version', async () => {
    const net = await import('node:net');
    const s = net.connect(server.port, '127.0.0.1');
    s.write(Buffer.from('0106800500000000', 'hex'));
    const ended = await new Promise<boolean>((resolve) => {
      s.on('data', () => resolve(false));
      s.on('close', () => resolve(true));
    });
    expect(ended).toBe(true);
  });
});

describe('control transfers', () => {
  it('IN data, OUT data and their round trip', async () => {
    const c = await attach();
    const echo = await c.control({ bmRequestType: VENDOR_IN, bRequest: PatternRequest.ECHO, wValue: 0x40, wIndex: 0, wLength: 200 });
    expect(echo.header.status).toBe(0);
    expect([...echo.data]).toEqual(Array.from({ length: 200 }, (_, i) => echoByte(0x40, i)));

    const payload = Buffer.from('a control OUT data stage');
    const out = await c.control({ bmRequestType: VENDOR_OUT, bRequest: PatternRequest.STORE, wValue: 0, wIndex: 0, wLength: payload.length }, payload);
    expect(out.header.status).toBe(0);
    expect(out.header.actualLength).toBe(payload.length);
    expect(out.data.length).toBe(0);
    const back = await c.control({ bmRequestType: VENDOR_IN, bRequest: PatternRequest.STORE, wValue: 0, wIndex: 0, wLength: 64 });
    expect(back.data.toString()).toBe('a control OUT data stage');
  });

  it('a STALL is -EPIPE', async () => {
    const c = await attach();
    const r = await c.control({ bmRequestType: VENDOR_IN, bRequest: 0x7f, wValue: 0, wIndex: 0, wLength: 4 });
    expect(r.header.status).toBe(-Errno.EPIPE);
    expect(r.header.actualLength).toBe(0);
  });

  it('a short IN with URB_SHORT_NOT_OK is -EREMOTEIO, without it success', async () => {
    const c = await attach();
    const setup = { bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 64 };
    const plain = await c.control(setup);
    expect(plain.header.status).toBe(0);
    expect(plain.header.actualLength).toBe(18);
    const strict = await c.control(setup, undefined, UrbTransferFlag.SHORT_NOT_OK | UrbTransferFlag.DIR_IN);
    expect(strict.header.status).toBe(-Errno.EREMOTEIO);
    expect(strict.data.length).toBe(18);
  });
});

describe('bulk and interrupt', () => {
  it('bulk IN data continues across transfers; many in flight', async () => {
    const c = await attach();
    await configure(c);
    const sizes = [4096, 512, 1000, 16384, 3];
    const results = await Promise.all(sizes.map((length) => c.submit({ ep: 2, direction: UsbipDirection.IN, length }).result));
    let position = 0;
    results.forEach((r, k) => {
      expect(r.header.status).toBe(0);
      expect(r.header.actualLength).toBe(sizes[k]);
      for (let i = 0; i < r.data.length; i++) {
        if (r.data[i] !== bulkStreamByte(position + i)) throw new Error(`transfer ${k} byte ${i}: ${r.data[i]} != ${bulkStreamByte(position + i)}`);
      }
      position += r.data.length;
    });
  });

  it('bulk OUT delivers every byte in order', async () => {
    const c = await attach();
    await configure(c);
    const chunks = [Buffer.alloc(70000, 1), Buffer.from('hello'), Buffer.alloc(512, 0xab)];
    chunks[0]!.forEach((_, i) => (chunks[0]![i] = (i * 13) & 0xff));
    for (const data of chunks) {
      const r = await c.submit({ ep: 2, direction: UsbipDirection.OUT, length: data.length, data }).result;
      expect(r.header.status).toBe(0);
      expect(r.header.actualLength).toBe(data.length);
    }
    const stats = await c.control({ bmRequestType: VENDOR_IN, bRequest: PatternRequest.STATS, wValue: 0, wIndex: 0, wLength: 8 });
    const expected = chunks.reduce((h, d) => fnv1a(h, d), FNV_OFFSET);
    expect(stats.data.readUInt32LE(0)).toBe(70000 + 5 + 512);
    expect(stats.data.readUInt32LE(4)).toBe(expected);
  });

  it('interrupt IN reports arrive in sequence, paced by the device', async () => {
    const c = await attach();
    await configure(c);
    const results = await Promise.all([0, 1, 2, 3].map(() => c.submit({ ep: 3, direction: UsbipDirection.IN, length: INTERRUPT_REPORT_SIZE }).result));
    results.forEach((r, k) => {
      expect(r.header.status).toBe(0);
      expect(r.data.readUInt32LE(0)).toBe(k);
    });
    // At most one report per 8 microframes (bInterval 4 at high speed).
    for (let k = 1; k < 4; k++) expect(results[k]!.data.readUInt32LE(4) - results[k - 1]!.data.readUInt32LE(4)).toBeGreaterThanOrEqual(8);
  });

  it('a halted endpoint answers -EPIPE until CLEAR_FEATURE(ENDPOINT_HALT)', async () => {
    const c = await attach();
    await configure(c);
    await c.control({ bmRequestType: VENDOR_OUT, bRequest: PatternRequest.HALT, wValue: 0, wIndex: 0x82, wLength: 0 });
    expect((await c.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 }).result).header.status).toBe(-Errno.EPIPE);
    await c.control({ bmRequestType: 0x02, bRequest: 0x01, wValue: 0, wIndex: 0x82, wLength: 0 });
    expect((await c.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 }).result).header.status).toBe(0);
  });
});

describe('isochronous IN', () => {
  it('compacts the packets, echoes the descriptors and carries the start frame', async () => {
    const c = await attach();
    await configure(c);
    await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 3, wIndex: 1, wLength: 0 });
    const packets = 16;
    const slot = 3072;
    const iso = Array.from({ length: packets }, (_, i) => ({ offset: i * slot, length: slot }));
    const urbs = [0, 1, 2, 3].map(() => c.submit({ ep: 1, direction: UsbipDirection.IN, length: packets * slot, iso, flags: UrbTransferFlag.ISO_ASAP }));
    const results = await Promise.all(urbs.map((u) => u.result));
    let previousEnd: number | undefined;
    for (const r of results) {
      const h = r.header;
      expect(h.status).toBe(0);
      expect(h.numberOfPackets).toBe(packets);
      expect(h.errorCount).toBe(0);
      // Queued URBs follow each other on the bus, never overlapping (back to back when the next was queued in time).
      if (previousEnd !== undefined) expect(h.startFrame).toBeGreaterThanOrEqual(previousEnd);
      previousEnd = h.startFrame + packets;
      let at = 0;
      r.iso.forEach((d, i) => {
        const frame = h.startFrame + i;
        expect(d.offset).toBe(i * slot);
        expect(d.length).toBe(slot);
        expect(d.status).toBe(0);
        expect(d.actualLength).toBe(isoPacketLength(frame, ISO_ALT_BYTES[3]));
        const expected = Buffer.alloc(slot);
        const n = writeIsoPacket(expected, frame, ISO_ALT_BYTES[3]);
        expect(r.data.subarray(at, at + n).equals(expected.subarray(0, n))).toBe(true);
        at += d.actualLength;
      });
      expect(h.actualLength).toBe(at);
      expect(r.data.length).toBe(at);
    }
  });

  it('caps packets at the host’s slot length', async () => {
    const c = await attach();
    await configure(c);
    await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 1, wIndex: 1, wLength: 0 });
    const iso = [
      { offset: 0, length: 100 },
      { offset: 100, length: 1024 },
    ];
    const r = await c.submit({ ep: 1, direction: UsbipDirection.IN, length: 1124, iso }).result;
    expect(r.iso[0]!.actualLength).toBeLessThanOrEqual(100);
    expect(r.header.actualLength).toBe(r.iso[0]!.actualLength + r.iso[1]!.actualLength);
  });

  it('refuses packet descriptors outside the buffer with -EINVAL and keeps the connection', async () => {
    const c = await attach();
    await configure(c);
    await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 1, wIndex: 1, wLength: 0 });
    const r = await c.submit({ ep: 1, direction: UsbipDirection.IN, length: 1024, iso: [{ offset: 512, length: 1024 }] }).result;
    expect(r.header.status).toBe(-Errno.EINVAL);
    expect(r.header.actualLength).toBe(0);
    expect((await c.control({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 })).header.status).toBe(0);
  });
});

describe('unlink', () => {
  it('of a pending URB: RET_UNLINK -ECONNRESET and never a RET_SUBMIT', async () => {
    const c = await attach();
    await configure(c);
    const victim = c.submit({ ep: 4, direction: UsbipDirection.IN, length: 512 });
    await sleep(20);
    const u = c.unlink(victim.seqnum);
    expect((await u.result).status).toBe(-Errno.ECONNRESET);
    expect(device.stats.cancelled).toBe(1);
    // Traffic after the unlink flows; the victim's RET_SUBMIT never comes.
    await c.control({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 });
    await sleep(20);
    expect(c.received.filter((m) => m.kind === 'submit' && m.seqnum === victim.seqnum)).toEqual([]);
    expect(server.sessionOf('1-1')?.stats.unlinkedPending).toBe(1);
  });

  it('of a completed URB: RET_UNLINK 0', async () => {
    const c = await attach();
    await configure(c);
    const done = c.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 });
    await done.result;
    expect((await c.unlink(done.seqnum).result).status).toBe(0);
    expect(server.sessionOf('1-1')?.stats.unlinkedCompleted).toBe(1);
  });

  it('under an iso stream: the unlinked URBs are cancelled, the others complete, the stream goes on', async () => {
    const c = await attach();
    await configure(c);
    await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 2, wIndex: 1, wLength: 0 });
    const iso = Array.from({ length: 8 }, (_, i) => ({ offset: i * 2048, length: 2048 }));
    const urbs = Array.from({ length: 6 }, () => c.submit({ ep: 1, direction: UsbipDirection.IN, length: 8 * 2048, iso }));
    const unlinks = [urbs[3]!, urbs[4]!, urbs[5]!].map((u) => c.unlink(u.seqnum).result);
    const statuses = (await Promise.all(unlinks)).map((r) => r.status);
    // Each unlink raced its URB: either it was still pending (-ECONNRESET, no RET_SUBMIT) or already answered (0).
    for (const [k, status] of statuses.entries()) {
      const seqnum = urbs[3 + k]!.seqnum;
      const submitted = c.received.some((m) => m.kind === 'submit' && m.seqnum === seqnum);
      expect(status === -Errno.ECONNRESET ? !submitted : status === 0 && submitted).toBe(true);
    }
    expect(statuses).toContain(-Errno.ECONNRESET);
    for (const u of urbs.slice(0, 3)) expect((await u.result).header.status).toBe(0);
    const after = await c.submit({ ep: 1, direction: UsbipDirection.IN, length: 8 * 2048, iso }).result;
    expect(after.header.status).toBe(0);
    expect(after.header.actualLength).toBeGreaterThan(0);
  });
});

describe('unplug', () => {
  it('the model unplugging closes the connection; a replugged model can be imported again', async () => {
    const c = await attach();
    await configure(c);
    const pending = c.submit({ ep: 4, direction: UsbipDirection.IN, length: 512 });
    void pending.result;
    const detached = nextDetach();
    device.unplug();
    expect((await detached).reason).toBe('device-unplugged');
    await c.closed;
    expect((await requestDevlist(server.port)).devices).toEqual([]);
    expect((await importDevice(server.port, '1-1')).status).toBe(OpStatus.NODEV);
    device.replug();
    const again = await attach();
    const d = await again.control({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0, wLength: 18 });
    expect(d.header.status).toBe(0);
  });

  it('the host closing the socket aborts everything pending and frees the device', async () => {
    const c = await attach();
    await configure(c);
    c.submit({ ep: 4, direction: UsbipDirection.IN, length: 512 });
    c.submit({ ep: 4, direction: UsbipDirection.IN, length: 512 });
    await sleep(20);
    const detached = nextDetach();
    c.close();
    expect((await detached).reason).toBe('host-closed');
    expect(device.stats.cancelled).toBe(2);
    expect(server.sessionOf('1-1')).toBeNull();
    await attach();
  });

  it('a host that sends garbage is disconnected as a protocol error', async () => {
    const c = await attach();
    const detached = nextDetach();
    c.socket.write(Buffer.alloc(48, 0x7f));
    const end = await detached;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(/command/);
    await c.closed;
  });
});

describe('a device that cannot describe itself', () => {
  it('is left out of the list and refused with ST_DEV_ERR', async () => {
    const mute = new PatternDevice();
    mute.control = () => Promise.resolve({ status: 'stall' });
    const other = await startUsbipServer({ devices: [{ busid: '2-1', model: mute }], port: 0 });
    try {
      expect((await requestDevlist(other.port)).devices).toEqual([]);
      const rejected = new Promise((resolve) => other.once('reject', resolve));
      expect((await importDevice(other.port, '2-1')).status).toBe(OpStatus.DEV_ERR);
      expect(await rejected).toMatchObject({ busid: '2-1', status: OpStatus.DEV_ERR });
    } finally {
      await other.close();
    }
  });
});

describe('server', () => {
  it('close() disconnects imported devices', async () => {
    const c = await attach();
    const detached = nextDetach();
    await server.close();
    expect((await detached).reason).toBe('server-closed');
    await c.closed;
  });

  it('refuses duplicate busids', async () => {
    await expect(startUsbipServer({ devices: [{ busid: 'a', model: device }, { busid: 'a', model: device }], port: 0 })).rejects.toThrow(/twice/);
  });
});
