/**
 * The USB/IP server's limits against one hostile peer at a time, each with a well-behaved client beside it: what
 * a peer may make the server allocate (sized by the device's endpoints and a per-connection budget, not by the
 * peer's numbers), how long a connection may stay in its handshake, how many may, and what a peer that leaves
 * leaves behind (nothing).
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControlReply, EndpointReply, EndpointRequest, SetupPacket } from '../../src/transport/device-model.js';
import { OpStatus, URB_HEADER_SIZE, UrbCommand, UsbipDirection, encodeImportRequest } from '../../src/usbip/protocol.js';
import { startUsbipServer, type UsbipDetachEvent, type UsbipDropEvent, type UsbipServer, type UsbipServerOptions } from '../../src/usbip/server.js';
import { PatternDevice } from '../../rig/guest/lib/pattern-device.js';
import { startCli } from '../cli/run-cli.js';
import { importDevice, requestDevlist, type UsbipTestClient } from './usbip-test-client.js';

/** The pattern device, counting requests given to it that have not settled. */
class CountingPattern extends PatternDevice {
  outstanding = 0;

  override control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    this.outstanding++;
    return super.control(setup, data, signal).finally(() => this.outstanding--);
  }

  override transfer(request: EndpointRequest): Promise<EndpointReply> {
    this.outstanding++;
    return super.transfer(request).finally(() => this.outstanding--);
  }
}

let target: CountingPattern;
let server: UsbipServer;
const clients: UsbipTestClient[] = [];
const sockets: net.Socket[] = [];

async function start(options: Partial<UsbipServerOptions> = {}): Promise<void> {
  target = new CountingPattern();
  server = await startUsbipServer({
    devices: [
      { busid: '1-1', model: target },
      { busid: '1-2', model: new PatternDevice() },
    ],
    port: 0,
    ...options,
  });
}

beforeEach(() => {
  clients.length = 0;
  sockets.length = 0;
});

afterEach(async () => {
  for (const c of clients) c.close();
  for (const s of sockets) s.destroy();
  await server?.close();
});

async function attach(busid: string): Promise<UsbipTestClient> {
  const r = await importDevice(server.port, busid);
  expect(r.status).toBe(OpStatus.OK);
  clients.push(r.client!);
  const configured = await r.client!.control({ bmRequestType: 0x00, bRequest: 0x09, wValue: 1, wIndex: 0, wLength: 0 });
  expect(configured.header.status).toBe(0);
  return r.client!;
}

/** The well-behaved client on the other device: lists, imports, reads. */
async function othersStillServed(): Promise<void> {
  const { devices } = await requestDevlist(server.port);
  expect(devices.map((d) => d.busid).sort()).toEqual(['1-1', '1-2']);
  const c = clients.find((x) => !x.socket.destroyed && x !== undefined) ?? (await attach('1-2'));
  const r = await c.submit({ ep: 2, direction: UsbipDirection.IN, length: 256 }).result;
  expect(r.header.status).toBe(0);
  expect(r.data.length).toBe(256);
}

function nextDetach(busid = '1-1'): Promise<UsbipDetachEvent> {
  return new Promise((resolve) => {
    const on = (e: UsbipDetachEvent): void => {
      if (e.busid !== busid) return;
      server.off('detach', on);
      resolve(e);
    };
    server.on('detach', on);
  });
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    sockets.push(s);
  });
}

/** A raw CMD_SUBMIT header (no body). */
function header(seqnum: number, direction: number, ep: number, length: number, packets = 0): Buffer {
  const h = Buffer.alloc(URB_HEADER_SIZE);
  h.writeUInt32BE(UrbCommand.CMD_SUBMIT, 0);
  h.writeUInt32BE(seqnum, 4);
  h.writeUInt32BE(0x10002, 8);
  h.writeUInt32BE(direction, 12);
  h.writeUInt32BE(ep, 16);
  h.writeInt32BE(length, 24);
  h.writeInt32BE(packets, 32);
  return h;
}

describe('what a peer can make the server allocate', () => {
  beforeEach(() => start());

  it('an IN transfer_buffer_length beyond 16 MiB is a protocol error, before anything is allocated', async () => {
    const c = await attach('1-1');
    await othersStillServed();
    const ended = nextDetach();
    c.socket.write(header(100, UsbipDirection.IN, 2, 64 * 1024 * 1024));
    const end = await ended;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(/transfer_buffer_length 67108864 \(at most 16777216\)/);
    expect(end.session.stats.peakBufferedBytes).toBeLessThan(64 * 1024);
    await othersStillServed();
  });

  it('256 pending 16 MiB reads on a 16-byte interrupt endpoint hit the 64 MiB budget: disconnected, never more held', async () => {
    const c = await attach('1-1');
    await attach('1-2');
    const ended = nextDetach();
    const burst = Buffer.concat(Array.from({ length: 256 }, (_, i) => header(1000 + i, UsbipDirection.IN, 3, 16 * 1024 * 1024)));
    c.socket.write(burst);
    const end = await ended;
    expect(end.reason).toBe('resource-limit');
    expect(end.error?.message).toMatch(/more than 67108864 bytes/);
    expect(end.session.stats.peakBufferedBytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(end.session.inFlight).toBe(0);
    await othersStillServed();
  });

  it('an iso IN buffer is sized by what the endpoint can send per interval, not by the host’s lengths', async () => {
    const c = await attach('1-1');
    const alt = await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 3, wIndex: 1, wLength: 0 });
    expect(alt.header.status).toBe(0);
    const MiB = 1024 * 1024;
    const iso = Array.from({ length: 8 }, (_, i) => ({ offset: i * MiB, length: MiB }));
    const r = await c.submit({ ep: 1, direction: UsbipDirection.IN, length: 8 * MiB, iso }).result;
    expect(r.header.status).toBe(0);
    // The reply echoes the host's slots; each packet is at most the endpoint's 3 × 1024 bytes.
    expect(r.iso.map((d) => [d.offset, d.length])).toEqual(iso.map((p) => [p.offset, p.length]));
    expect(Math.max(...r.iso.map((d) => d.actualLength))).toBeLessThanOrEqual(3072);
    const session = server.sessionOf('1-1')!;
    expect(session.stats.peakBufferedBytes).toBeLessThan(64 * 1024);
  });

  it('a URB for an endpoint the device lacks, or with iso packets on a bulk endpoint, is a protocol error', async () => {
    let c = await attach('1-1');
    let ended = nextDetach();
    c.socket.write(header(7, UsbipDirection.IN, 9, 512));
    let end = await ended;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(/endpoint 0x89, which the device does not have/);

    c = await attach('1-1');
    ended = nextDetach();
    c.socket.write(Buffer.concat([header(8, UsbipDirection.IN, 2, 1024, 2), Buffer.alloc(32)]));
    end = await ended;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(/number_of_packets 2 for a non-iso endpoint 0x82/);
    await othersStillServed();
  });

  it('unlinks of seqnums nobody submitted are answered 0 and the connection goes on', async () => {
    const c = await attach('1-1');
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => c.unlink(0x7000_0000 + i).result));
    expect(answers.every((a) => a.status === 0)).toBe(true);
    const r = await c.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 }).result;
    expect(r.header.status).toBe(0);
  });

  it('a duplicate seqnum of a pending URB is a protocol error', async () => {
    const c = await attach('1-1');
    const ended = nextDetach();
    const pending = c.submit({ ep: 4, direction: UsbipDirection.IN, length: 64 });
    await new Promise((r) => setTimeout(r, 50));
    c.socket.write(header(pending.seqnum, UsbipDirection.IN, 4, 64));
    const end = await ended;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(new RegExp(`seqnum ${pending.seqnum} submitted twice`));
  });
});

describe('a peer that stops reading', () => {
  it('is disconnected once its unread replies reach the budget', async () => {
    await start({ session: { maxBufferedBytes: 4 * 1024 * 1024 } });
    const c = await attach('1-1');
    c.socket.pause(); // reads nothing from now on
    const ended = nextDetach();
    for (let i = 0; i < 400; i++) c.submit({ ep: 2, direction: UsbipDirection.IN, length: 64 * 1024 });
    const end = await ended;
    expect(end.reason).toBe('resource-limit');
    expect(end.session.stats.peakBufferedBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    // Our end of it reads nothing, so it may never see the server close the connection: close it, or
    // othersStillServed() would take it for a live client and wait on it forever.
    c.close();
    await othersStillServed();
  });
});

describe('handshakes', () => {
  it('1 100 silent connections: at most maxHandshakes are kept (the oldest go first); other clients are served', async () => {
    // A deadline far away: only the limit decides here.
    await start({ maxHandshakes: 32, handshakeTimeoutMs: 600_000 });
    const drops: UsbipDropEvent[] = [];
    server.on('drop', (e) => drops.push(e));
    let closedByServer = 0;
    for (let i = 0; i < 1100; i++) {
      const s = await connect();
      s.on('close', () => closedByServer++);
      expect(server.handshaking).toBeLessThanOrEqual(32);
    }
    expect(drops.length).toBe(1100 - 32);
    expect(drops.every((d) => d.reason === 'too-many-handshakes')).toBe(true);
    expect(drops[0]!.detail).toMatch(/32 connections were in their handshake/);
    // The server closed its end of each: the client sees every one of them close (no descriptor held for them).
    while (closedByServer < 1100 - 32) await new Promise((r) => setTimeout(r, 10));
    expect(server.handshaking).toBe(32);
    await othersStillServed();
    const c = await attach('1-1');
    expect((await c.submit({ ep: 2, direction: UsbipDirection.IN, length: 16 }).result).header.status).toBe(0);
  });

  it('a peer sending its request a byte at a time, or nothing, is dropped at the handshake deadline', async () => {
    await start({ handshakeTimeoutMs: 300 });
    const drops: UsbipDropEvent[] = [];
    server.on('drop', (e) => drops.push(e));
    const silent = await connect();
    const trickle = await connect();
    const request = encodeImportRequest('1-1');
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < request.length && !trickle.destroyed) trickle.write(request.subarray(sent, ++sent));
    }, 30);
    const closed = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
    await Promise.all([closed(silent), closed(trickle)]);
    clearInterval(timer);
    expect(sent).toBeLessThan(request.length);
    expect(drops.map((d) => d.reason)).toEqual(['handshake-timeout', 'handshake-timeout']);
    expect(drops[0]!.detail).toMatch(/no complete handshake in 300 ms/);
    expect(server.handshaking).toBe(0);
    await othersStillServed();
  });

  it('a peer that does not speak USB/IP is dropped with the reason', async () => {
    await start();
    const dropped = new Promise<UsbipDropEvent>((resolve) => server.once('drop', resolve));
    const s = await connect();
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const d = await dropped;
    expect(d.reason).toBe('protocol-error');
    expect(d.detail).toMatch(/not a USB\/IP request: version 0x4745, code 0x5420/);
  });

  it('an import of a busid that does not exist is refused ST_NODEV', async () => {
    await start();
    expect((await importDevice(server.port, '9-9')).status).toBe(OpStatus.NODEV);
    await othersStillServed();
  });
});

describe('a peer that leaves', () => {
  it('leaves the device model idle: everything it started is aborted', async () => {
    await start();
    const c = await attach('1-1');
    await c.control({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 2, wIndex: 1, wLength: 0 });
    const iso = Array.from({ length: 32 }, (_, i) => ({ offset: i * 2048, length: 2048 }));
    for (let i = 0; i < 8; i++) c.submit({ ep: 1, direction: UsbipDirection.IN, length: 32 * 2048, iso });
    for (let i = 0; i < 8; i++) c.submit({ ep: 4, direction: UsbipDirection.IN, length: 512 });
    for (let i = 0; i < 8; i++) c.submit({ ep: 3, direction: UsbipDirection.IN, length: 16 });
    await new Promise((r) => setTimeout(r, 20));
    expect(target.outstanding).toBeGreaterThan(0);
    const ended = nextDetach();
    c.socket.destroy();
    const end = await ended;
    expect(end.reason).toBe('host-closed');
    await new Promise((r) => setTimeout(r, 20));
    expect(target.outstanding).toBe(0);
    expect(end.session.inFlight).toBe(0);
  });

  it('a half-sent URB then silence keeps the imported session (a slow host), until the host goes', async () => {
    await start();
    const c = await attach('1-1');
    c.socket.write(header(50, UsbipDirection.OUT, 2, 4096).subarray(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.sessionOf('1-1')?.isClosed).toBe(false);
    const ended = nextDetach();
    c.socket.destroy();
    expect((await ended).reason).toBe('host-closed');
  });
});

describe('serve-usbip exposure', () => {
  it('warns that USB/IP has no authentication when it listens beyond loopback; not on 127.0.0.1', async () => {
    const open = startCli(['serve-usbip', '--host', '0.0.0.0', '--port', '0']);
    // A hang guard, not a margin: starting node and the CLI takes tens of seconds on a loaded machine.
    await open.waitForStdout(/Ctrl-C stops the export/, 240_000);
    open.child.kill('SIGINT');
    const r = await open.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: USB\/IP has no authentication: anyone who can reach 0\.0\.0\.0:\d+ can attach the camera/);

    const local = startCli(['serve-usbip', '--port', '0']);
    await local.waitForStdout(/Ctrl-C stops the export/, 240_000);
    local.child.kill('SIGINT');
    const l = await local.done;
    expect(l.code).toBe(0);
    expect(l.stderr).not.toMatch(/no authentication/);
  }, 600_000);
});

