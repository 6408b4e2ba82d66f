/**
 * The USB/IP server against a hostile peer: more than 100 000 random and mutated messages (seeded, the same on
 * every machine: UVC_USBIP_FUZZ_SEED picks another), sent in batches over fresh imports of one device while a
 * second device serves a well-behaved client. Each batch is mostly messages a host may send, odd or not
 * (random setups, lengths, flags, iso descriptors that lie, unlinks of seqnums nobody used), and may end with one
 * that no USB/IP host sends (unknown command, absurd length or packet count, an endpoint the device lacks, a
 * duplicate seqnum, garbage) or with a truncated header. The server must answer or drop exactly as the batch
 * deserves (the drop's reason and message say why), never crash, never hold more than its budget for a
 * connection, leave the device model idle once the peer is gone, and keep serving the other client throughout.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointReply, EndpointRequest, SetupPacket, ControlReply } from '../../src/transport/device-model.js';
import {
  ISO_DESCRIPTOR_SIZE,
  OP_COMMON_SIZE,
  OpStatus,
  URB_HEADER_SIZE,
  USB_DEVICE_SIZE,
  UrbCommand,
  UsbipDirection,
  encodeCmdSubmit,
  encodeCmdUnlink,
  encodeImportRequest,
} from '../../src/usbip/protocol.js';
import { startUsbipServer, type UsbipDetachEvent, type UsbipServer } from '../../src/usbip/server.js';
import { PatternDevice, PatternRequest, bulkStreamByte } from '../../rig/guest/lib/pattern-device.js';
import { Prng, seedFromEnv } from '../uvc/helpers/prng.js';
import { importDevice, requestDevlist, type UsbipTestClient } from './usbip-test-client.js';

const SEED = seedFromEnv('UVC_USBIP_FUZZ_SEED', 0x05b1f022);
const TARGET_MESSAGES = Number(process.env.UVC_USBIP_FUZZ_MESSAGES ?? 100_000);
const BATCH = 1000;
const MAX_BUFFERED = 64 * 1024 * 1024;

/** The pattern device, counting the requests the server has given it that have not settled yet. */
class CountingPattern extends PatternDevice {
  outstanding = 0;

  override control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    return this.count(() => super.control(setup, data, signal));
  }

  override transfer(request: EndpointRequest): Promise<EndpointReply> {
    return this.count(() => super.transfer(request));
  }

  private count<T>(call: () => Promise<T>): Promise<T> {
    this.outstanding++;
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      this.outstanding--;
      throw err;
    }
    return p.finally(() => this.outstanding--);
  }
}

let target: CountingPattern;
let bystanderDevice: PatternDevice;
let server: UsbipServer;
let bystander: UsbipTestClient;

beforeAll(async () => {
  target = new CountingPattern();
  bystanderDevice = new PatternDevice();
  server = await startUsbipServer({
    devices: [
      { busid: '1-1', model: target },
      { busid: '1-2', model: bystanderDevice },
    ],
    port: 0,
  });
  const r = await importDevice(server.port, '1-2');
  expect(r.status).toBe(OpStatus.OK);
  bystander = r.client!;
  const configured = await bystander.control({ bmRequestType: 0x00, bRequest: 0x09, wValue: 1, wIndex: 0, wLength: 0 });
  expect(configured.header.status).toBe(0);
});

afterAll(async () => {
  bystander?.close();
  await server?.close();
});

/** Imports '1-1' over a raw socket whose replies are read and thrown away. */
async function importRaw(): Promise<net.Socket> {
  for (;;) {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    socket.on('error', () => undefined);
    socket.write(encodeImportRequest('1-1'));
    const status = await new Promise<number>((resolve) => {
      let got = Buffer.alloc(0);
      const onData = (c: Buffer): void => {
        got = Buffer.concat([got, c]);
        if (got.length < OP_COMMON_SIZE) return;
        const st = got.readUInt32BE(4);
        if (st !== OpStatus.OK || got.length >= OP_COMMON_SIZE + USB_DEVICE_SIZE) {
          socket.off('data', onData);
          resolve(st);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => resolve(-1));
    });
    if (status === OpStatus.OK) {
      socket.on('data', () => undefined);
      return socket;
    }
    socket.destroy();
    // The previous batch's session is still ending: the device is busy for a moment.
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Expectation = 'host-closed' | 'protocol-error';

interface Batch {
  bytes: Buffer;
  messages: number;
  expect: Expectation;
  /** What the fatal message was, for the failure report. */
  fatal: string;
}

const SILENT_EP = 4;

function submit(
  rng: Prng,
  seq: number,
  o: { direction: number; ep: number; length: number; setup?: Uint8Array; data?: Uint8Array; iso?: { offset: number; length: number }[]; packets?: number },
): Buffer {
  const packets = o.iso?.length ?? 0;
  const out = o.direction === UsbipDirection.OUT ? o.length : 0;
  const msg = Buffer.alloc(URB_HEADER_SIZE + out + packets * ISO_DESCRIPTOR_SIZE);
  encodeCmdSubmit(msg, 0, {
    seqnum: seq,
    devid: 0x10002,
    direction: o.direction,
    ep: o.ep,
    // Random flags: the server must not care about bits it does not use.
    transferFlags: rng.chance(0.2) ? rng.next() : 0,
    transferBufferLength: o.length,
    startFrame: rng.chance(0.1) ? rng.next() | 0 : 0,
    numberOfPackets: o.packets ?? packets,
    interval: rng.below(16),
    setup: o.setup ?? new Uint8Array(8),
  });
  if (o.data !== undefined) msg.set(o.data.subarray(0, out), URB_HEADER_SIZE);
  o.iso?.forEach((p, i) => {
    msg.writeUInt32BE(p.offset >>> 0, URB_HEADER_SIZE + out + i * ISO_DESCRIPTOR_SIZE);
    msg.writeUInt32BE(p.length >>> 0, URB_HEADER_SIZE + out + i * ISO_DESCRIPTOR_SIZE + 4);
  });
  return msg;
}

function setupBytes(bmRequestType: number, bRequest: number, wValue: number, wIndex: number, wLength: number): Uint8Array {
  const s = Buffer.alloc(8);
  s[0] = bmRequestType;
  s[1] = bRequest;
  s.writeUInt16LE(wValue & 0xffff, 2);
  s.writeUInt16LE(wIndex & 0xffff, 4);
  s.writeUInt16LE(wLength & 0xffff, 6);
  return s;
}

function randomBytes(rng: Prng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.below(256);
  return b;
}

/** One message a host may send (odd, but not a protocol violation). */
function benignMessage(rng: Prng, seq: number, sent: number[], silent: number[]): Buffer {
  switch (rng.below(11)) {
    case 0: {
      // Standard GET_DESCRIPTOR of any type and index, any wLength; transfer_buffer_length may disagree.
      const wLength = rng.below(1100);
      const setup = setupBytes(0x80, 0x06, (rng.pick([1, 2, 3, 6, 0x0f, 0x21, rng.below(256)]) << 8) | rng.below(4), rng.below(0x500), wLength);
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: 0, length: rng.chance(0.8) ? wLength : rng.below(0x10000), setup });
    }
    case 1: {
      // Vendor requests: ECHO, STORE, STATS, unknown ones (STALL), and random standard OUT requests.
      const r = rng.pick([PatternRequest.ECHO, PatternRequest.STORE, PatternRequest.STATS, rng.below(256)]);
      const isIn = rng.chance(0.6);
      const wLength = rng.below(300);
      const type = rng.chance(0.8) ? (isIn ? 0xc0 : 0x40) : (isIn ? 0x80 : 0x00) | rng.below(4);
      // Not the requests that halt an endpoint or change the configuration or alternate setting: the batch's
      // silent-endpoint reads must stay pending (the duplicate-seqnum case relies on it).
      const standard = (type & 0x60) === 0;
      const request = (!standard && r === PatternRequest.HALT) || (standard && [1, 3, 9, 11].includes(r)) ? 0 : r;
      const setup = setupBytes(type, request, rng.below(0x10000), rng.below(0x100), wLength);
      return submit(rng, seq, isIn ? { direction: UsbipDirection.IN, ep: 0, length: wLength, setup } : { direction: UsbipDirection.OUT, ep: 0, length: wLength, setup, data: randomBytes(rng, wLength) });
    }
    case 2:
    case 3:
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: 2, length: rng.chance(0.01) ? rng.below(1 << 20) : rng.below(16_385) });
    case 4: {
      const n = rng.below(4097);
      return submit(rng, seq, { direction: UsbipDirection.OUT, ep: 2, length: n, data: randomBytes(rng, n) });
    }
    case 5:
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: 3, length: rng.pick([16, 0, 1, 64, rng.below(4096)]) });
    case 6:
      silent.push(seq);
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: SILENT_EP, length: rng.below(4097) });
    case 7: {
      // Iso IN: a few packets whose descriptors are right, too long (far beyond what the endpoint sends),
      // or outside the buffer (the server refuses that URB with -EINVAL and goes on).
      const packets = 1 + rng.below(8);
      const iso: { offset: number; length: number }[] = [];
      let at = 0;
      for (let i = 0; i < packets; i++) {
        const length = rng.chance(0.8) ? 3072 : rng.chance(0.5) ? rng.below(0x7fffffff) : rng.below(8192);
        iso.push({ offset: rng.chance(0.9) ? at : rng.next(), length });
        at += length;
      }
      const length = rng.chance(0.7) ? Math.min(at, 16 * 1024 * 1024) : rng.below(16 * 1024 * 1024);
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: 1, length, iso });
    }
    case 8:
    case 9: {
      // Unlink: mostly seqnums nobody used or long answered, sometimes a recent or pending one.
      const victim = rng.chance(0.5) ? rng.next() : rng.chance(0.5) && silent.length > 0 ? rng.pick(silent) : rng.pick(sent.length > 0 ? sent : [0]);
      const msg = Buffer.alloc(URB_HEADER_SIZE);
      encodeCmdUnlink(msg, 0, seq, 0x10002, victim);
      const i = silent.indexOf(victim);
      if (i >= 0) silent.splice(i, 1);
      return msg;
    }
    default:
      // Zero-length transfers everywhere they exist.
      return submit(rng, seq, { direction: UsbipDirection.IN, ep: rng.pick([2, 3, SILENT_EP]), length: 0 });
  }
}

/** A message no USB/IP host sends; the server must drop the connection as a protocol error. */
function fatalMessage(rng: Prng, seq: number, silent: number[]): { bytes: Buffer; what: string } {
  const h = Buffer.alloc(URB_HEADER_SIZE);
  const base = (command: number, direction: number, ep: number, length: number, packets: number): void => {
    h.writeUInt32BE(command >>> 0, 0);
    h.writeUInt32BE(seq, 4);
    h.writeUInt32BE(0x10002, 8);
    h.writeUInt32BE(direction >>> 0, 12);
    h.writeUInt32BE(ep >>> 0, 16);
    h.writeInt32BE(length | 0, 24);
    h.writeInt32BE(packets | 0, 32);
  };
  switch (rng.below(11)) {
    case 0: {
      const command = rng.pick([0, 3, 4, 5, 0xffffffff, rng.next()]);
      base(command === 1 || command === 2 ? 7 : command, 1, 2, 64, 0);
      return { bytes: h, what: 'unknown command' };
    }
    case 1:
      base(UrbCommand.CMD_SUBMIT, 2 + rng.below(1000), 2, 64, 0);
      return { bytes: h, what: 'direction' };
    case 2:
      base(UrbCommand.CMD_SUBMIT, 1, 16 + rng.below(1 << 20), 64, 0);
      return { bytes: h, what: 'endpoint number' };
    case 3:
      base(UrbCommand.CMD_SUBMIT, rng.below(2), 2, rng.chance(0.5) ? 16 * 1024 * 1024 + 1 + rng.below(0x7f000000) : -1 - rng.below(1000), 0);
      return { bytes: h, what: 'transfer_buffer_length' };
    case 4:
      base(UrbCommand.CMD_SUBMIT, 1, 1, 3072, 1025 + rng.below(1 << 30));
      return { bytes: h, what: 'number_of_packets' };
    case 5:
      base(UrbCommand.CMD_SUBMIT, rng.below(2), 5 + rng.below(11), 512, 0);
      return { bytes: h, what: 'missing endpoint' };
    case 6:
      base(UrbCommand.CMD_SUBMIT, 1, 2, 1024, 1 + rng.below(8));
      return { bytes: Buffer.concat([h, Buffer.alloc(h.readInt32BE(32) * ISO_DESCRIPTOR_SIZE)]), what: 'iso packets on a bulk endpoint' };
    case 7:
      base(UrbCommand.CMD_SUBMIT, 1, 1, 3072, 0);
      return { bytes: h, what: 'iso endpoint without packets' };
    case 8:
      base(UrbCommand.CMD_SUBMIT, 1, 0, 0x10000 + rng.below(1000), 0);
      return { bytes: h, what: 'control transfer longer than wLength can say' };
    case 9: {
      if (silent.length === 0) {
        base(UrbCommand.CMD_SUBMIT, 1, 0, 0x10000, 0);
        return { bytes: h, what: 'control transfer longer than wLength can say' };
      }
      // A seqnum still pending (a silent-endpoint read nobody unlinked), submitted again.
      const again = rng.pick(silent);
      base(UrbCommand.CMD_SUBMIT, 1, SILENT_EP, 64, 0);
      h.writeUInt32BE(again, 4);
      return { bytes: h, what: 'duplicate seqnum' };
    }
    default: {
      const g = randomBytes(rng, URB_HEADER_SIZE + rng.below(64));
      g.writeUInt32BE(5 + rng.below(1 << 30), 0);
      return { bytes: g, what: 'garbage' };
    }
  }
}

function makeBatch(rng: Prng, firstSeq: number): Batch {
  const sent: number[] = [];
  const silent: number[] = [];
  let seq = firstSeq;
  // As a host starts: configuration 1, the iso interface at one of its alternate settings.
  const parts: Buffer[] = [
    submit(rng, seq++, { direction: UsbipDirection.OUT, ep: 0, length: 0, setup: setupBytes(0x00, 0x09, 1, 0, 0) }),
    submit(rng, seq++, { direction: UsbipDirection.OUT, ep: 0, length: 0, setup: setupBytes(0x01, 0x0b, 1 + rng.below(3), 1, 0) }),
  ];
  for (let i = 0; i < BATCH; i++) {
    parts.push(benignMessage(rng, seq, sent, silent));
    sent.push(seq++);
  }
  let expectation: Expectation = 'host-closed';
  let fatal = 'none';
  const roll = rng.below(10);
  if (roll < 6) {
    const f = fatalMessage(rng, seq++, silent);
    parts.push(f.bytes);
    expectation = 'protocol-error';
    fatal = f.what;
  } else if (roll < 8) {
    // A message cut off mid-header or mid-body, then the connection ends: a host going away, no violation.
    const m = benignMessage(rng, seq++, sent, silent);
    parts.push(m.subarray(0, 1 + rng.below(m.length - 1)));
    fatal = 'truncated message';
  }
  return { bytes: Buffer.concat(parts), messages: parts.length, expect: expectation, fatal };
}

async function bystanderWorks(): Promise<void> {
  const r = await bystander.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 }).result;
  expect(r.header.status).toBe(0);
  expect(r.data.length).toBe(64);
  // The bulk stream continues where it was: check the bytes are the stream's.
  const first = r.data.readUInt32LE(0) * 4;
  expect([...r.data]).toEqual(Array.from({ length: 64 }, (_, i) => bulkStreamByte(first + i)));
  const { devices } = await requestDevlist(server.port);
  expect(devices.map((d) => d.busid).sort()).toEqual(['1-1', '1-2']);
}

describe('USB/IP server fuzz', () => {
  it(`survives ${TARGET_MESSAGES} random and mutated messages (seed 0x${SEED.toString(16)}), dropping exactly the bad peers`, async () => {
    const rng = new Prng(SEED);
    let messages = 0;
    let batches = 0;
    const reasons = new Map<string, number>();
    let peak = 0;
    while (messages < TARGET_MESSAGES) {
      const batch = makeBatch(rng, 1 + rng.below(1 << 30));
      const socket = await importRaw();
      const ended = new Promise<UsbipDetachEvent>((resolve) => server.once('detach', resolve));
      socket.write(batch.bytes);
      socket.end();
      const end = await ended;
      const key = `${end.reason}${end.reason === 'protocol-error' ? `: ${batch.fatal}` : ''}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
      if (end.reason !== batch.expect) {
        throw new Error(`batch ${batches} (fatal: ${batch.fatal}) ended '${end.reason}' (${end.error?.message ?? ''}), expected '${batch.expect}'`);
      }
      if (end.reason === 'protocol-error') expect((end.error as { code?: string } | undefined)?.code).toBe('EPROTO');
      peak = Math.max(peak, end.session.stats.peakBufferedBytes);
      expect(end.session.inFlight).toBe(0);
      socket.destroy();
      messages += batch.messages;
      batches++;
      if (batches % 25 === 0) await bystanderWorks();
    }
    // Everything the peers started in the model has ended: nothing keeps the server busy after they left.
    await new Promise((r) => setTimeout(r, 10));
    expect(target.outstanding).toBe(0);
    expect(peak).toBeLessThanOrEqual(MAX_BUFFERED);
    await bystanderWorks();
    // Every kind of ending happened.
    const kinds = [...reasons.keys()];
    expect(reasons.get('host-closed') ?? 0).toBeGreaterThan(0);
    for (const what of ['unknown command', 'direction', 'endpoint number', 'transfer_buffer_length', 'number_of_packets', 'missing endpoint', 'iso packets on a bulk endpoint', 'iso endpoint without packets', 'duplicate seqnum', 'garbage']) {
      expect(kinds.some((k) => k.endsWith(`: ${what}`)), what).toBe(true);
    }
    expect(messages).toBeGreaterThanOrEqual(TARGET_MESSAGES);
  }, 900_000);
});
