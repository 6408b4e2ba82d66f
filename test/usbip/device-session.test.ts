/**
 * The URB loop alone (no handshake) with hand-driven fake models: completion order, iso OUT, models that
 * misbehave.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serveUsbipDevice, type UsbipDeviceSession } from '../../src/usbip/device-session.js';
import { Errno, UsbipDirection } from '../../src/usbip/protocol.js';
import { PacketStatus, type ControlReply, type EndpointReply, type EndpointRequest, type UsbDeviceModel } from '../../src/transport/device-model.js';
import { UsbipTestClient } from './usbip-test-client.js';

/** A model whose transfers wait until the test settles them, in any order it likes. */
class ManualModel extends EventEmitter implements UsbDeviceModel {
  readonly speed = 'high' as const;
  attached = true;
  readonly requests: { request: EndpointRequest; settle: (r: EndpointReply) => void; aborted: boolean }[] = [];
  control(): Promise<ControlReply> {
    return Promise.resolve({ status: 'ok', data: new Uint8Array(0) });
  }
  transfer(request: EndpointRequest): Promise<EndpointReply> {
    return new Promise((resolve) => {
      const entry = { request, settle: resolve, aborted: false };
      request.signal?.addEventListener('abort', () => {
        entry.aborted = true;
        resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 });
      });
      this.requests.push(entry);
    });
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A bulk IN endpoint with data queued: a URB takes the next chunk as soon as it comes, or waits for one. */
class QueuedBulkModel extends EventEmitter implements UsbDeviceModel {
  readonly speed = 'high' as const;
  attached = true;
  readonly queue: number[][] = [];
  handedOut = 0;
  control(): Promise<ControlReply> {
    return Promise.resolve({ status: 'ok', data: new Uint8Array(0) });
  }
  async transfer(request: EndpointRequest): Promise<EndpointReply> {
    const chunk = this.queue.shift();
    if (chunk === undefined) {
      return new Promise((resolve) => request.signal?.addEventListener('abort', () => resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 })));
    }
    this.handedOut++;
    await Promise.resolve(); // the answer is a few promise hops behind the data, as in any async model
    request.buffer.set(chunk);
    return { status: 'ok', actualLength: chunk.length, startFrame: 0 };
  }
}

async function connectedPair(model: UsbDeviceModel): Promise<{ client: UsbipTestClient; session: UsbipDeviceSession; socket: net.Socket }> {
  const listener = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const socket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  socket.setNoDelay(true);
  const serverEnd = await accepted;
  listener.close();
  const session = serveUsbipDevice(serverEnd, model);
  const client = new UsbipTestClient(socket, 0x10002);
  cleanups.push(() => {
    client.close();
    session.close();
  });
  return { client, session, socket };
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('UsbipDeviceSession', () => {
  it('answers one endpoint in submission order even when the model finishes out of order', async () => {
    const model = new ManualModel();
    const { client } = await connectedPair(model);
    const a = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    const b = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    const other = client.submit({ ep: 3, direction: UsbipDirection.IN, length: 4 });
    await until(() => model.requests.length === 3);
    model.requests[1]!.request.buffer.set([2, 2, 2, 2]);
    model.requests[1]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 });
    model.requests[2]!.settle({ status: 'ok', actualLength: 0, startFrame: 0 });
    // Another endpoint does not wait for endpoint 2's elder.
    expect((await other.result).header.status).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    expect(client.received.map((m) => m.seqnum)).toEqual([other.seqnum]);
    model.requests[0]!.request.buffer.set([1, 1, 1, 1]);
    model.requests[0]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 });
    expect([...(await a.result).data]).toEqual([1, 1, 1, 1]);
    expect([...(await b.result).data]).toEqual([2, 2, 2, 2]);
    expect(client.received.map((m) => m.seqnum)).toEqual([other.seqnum, a.seqnum, b.seqnum]);
  });

  it("an unlink that comes before the CMD_SUBMIT it cancels (vhci_hcd's race) waits for it: cancelled unseen, -ECONNRESET, no RET_SUBMIT", async () => {
    const model = new ManualModel();
    const { client, session } = await connectedPair(model);
    const first = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    await until(() => model.requests.length === 1);
    // vhci_tx_loop sends the URBs queued, then the unlinks queued: a URB queued and unlinked in between goes out
    // after its unlink.
    const early = client.unlink(first.seqnum + 2);
    const victim = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    expect(victim.seqnum).toBe(first.seqnum + 2);
    expect((await early.result).status).toBe(-Errno.ECONNRESET);
    model.requests[0]!.settle({ status: 'ok', actualLength: 0, startFrame: 0 });
    expect((await first.result).header.status).toBe(0);
    const after = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    await until(() => model.requests.length === 2);
    model.requests[1]!.settle({ status: 'ok', actualLength: 0, startFrame: 0 });
    await after.result;
    // The model never saw the victim, and its RET_SUBMIT never came (vhci_hcd would drop the connection on it).
    expect(model.requests.map((r) => r.request.endpoint)).toHaveLength(2);
    expect(client.received.filter((m) => m.kind === 'submit').map((m) => m.seqnum)).toEqual([first.seqnum, after.seqnum]);
    expect(session.stats.unlinkedBeforeSubmit).toBe(1);
    // A late unlink of an answered URB is told 0 at once.
    expect((await client.unlink(first.seqnum).result).status).toBe(0);
  });

  it('an unlink arriving with its CMD_SUBMIT, after the model took data for it: the data goes out, then RET_UNLINK 0', async () => {
    // vhci_hcd sends the CMD_UNLINK of a timed-out URB right behind its CMD_SUBMIT when the server was slow to read:
    // both arrive in one read, and the model hands the URB its data before the unlink is even parsed.
    const model = new QueuedBulkModel();
    model.queue.push([9, 8, 7, 6, 5]);
    const { client, session, socket } = await connectedPair(model);
    socket.cork();
    const victim = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 512 });
    const unlink = client.unlink(victim.seqnum);
    socket.uncork();
    expect([...(await victim.result).data]).toEqual([9, 8, 7, 6, 5]);
    expect((await unlink.result).status).toBe(0);
    expect(client.received).toEqual([
      { kind: 'submit', seqnum: victim.seqnum },
      { kind: 'unlink', seqnum: unlink.seqnum },
    ]);
    expect(session.stats).toMatchObject({ unlinkedRacingAnswer: 1, unlinkedCompleted: 1, unlinkedPending: 0 });
    expect(model.handedOut).toBe(1);
  });

  it('an unlink arriving with its CMD_SUBMIT when the device has nothing: -ECONNRESET, no RET_SUBMIT, nothing taken', async () => {
    const model = new QueuedBulkModel();
    const { client, session, socket } = await connectedPair(model);
    socket.cork();
    const victim = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 512 });
    const unlink = client.unlink(victim.seqnum);
    socket.uncork();
    expect((await unlink.result).status).toBe(-Errno.ECONNRESET);
    model.queue.push([1, 2, 3]);
    const next = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 512 });
    expect([...(await next.result).data]).toEqual([1, 2, 3]);
    expect(client.received.filter((m) => m.kind === 'submit').map((m) => m.seqnum)).toEqual([next.seqnum]);
    expect(session.stats).toMatchObject({ unlinkedPending: 1, unlinkedRacingAnswer: 0 });
    expect(model.handedOut).toBe(1); // the chunk pushed later, to the next URB only
  });

  it('unlinking an answered URB held behind a pending elder: sent in its turn if the elder answers soon, then RET_UNLINK 0', async () => {
    const model = new ManualModel();
    const { client, session } = await connectedPair(model);
    const elder = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    const younger = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    await until(() => model.requests.length === 2);
    model.requests[1]!.request.buffer.set([2, 2, 2, 2]);
    model.requests[1]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 });
    // The elder answers as the unlink reaches the younger: well within the unlink's wait, however slow the machine.
    model.requests[1]!.request.signal!.addEventListener('abort', () => model.requests[0]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 }));
    const unlink = client.unlink(younger.seqnum);
    await elder.result;
    expect([...(await younger.result).data]).toEqual([2, 2, 2, 2]);
    expect((await unlink.result).status).toBe(0);
    expect(client.received.map((m) => m.seqnum)).toEqual([elder.seqnum, younger.seqnum, unlink.seqnum]);
    expect(session.stats).toMatchObject({ unlinkedRacingAnswer: 1, unlinkedPending: 0 });
  });

  it('unlinking an answered URB held behind an elder that does not answer cancels it after a short wait', async () => {
    const model = new ManualModel();
    const { client, session } = await connectedPair(model);
    const elder = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    const younger = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 4 });
    await until(() => model.requests.length === 2);
    model.requests[1]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 });
    expect((await client.unlink(younger.seqnum).result).status).toBe(-Errno.ECONNRESET);
    model.requests[0]!.settle({ status: 'ok', actualLength: 4, startFrame: 0 });
    await elder.result;
    await new Promise((r) => setTimeout(r, 30));
    expect(client.received.filter((m) => m.kind === 'submit').map((m) => m.seqnum)).toEqual([elder.seqnum]);
    expect(session.stats).toMatchObject({ unlinkedPending: 1, unlinkedRacingAnswer: 0 });
  });

  it('iso OUT: the model gets the padded data and the slots; the answer carries descriptors only', async () => {
    const model = new ManualModel();
    const { client } = await connectedPair(model);
    const data = Buffer.alloc(300);
    for (let i = 0; i < 300; i++) data[i] = i & 0xff;
    const iso = [
      { offset: 0, length: 100 },
      { offset: 100, length: 100 },
      { offset: 200, length: 100 },
    ];
    const urb = client.submit({ ep: 5, direction: UsbipDirection.OUT, length: 300, data, iso });
    await until(() => model.requests.length === 1);
    const { request, settle } = model.requests[0]!;
    expect(request.endpoint).toBe(0x05);
    expect(Buffer.from(request.buffer).equals(data)).toBe(true);
    expect([...request.iso!.offsets]).toEqual([0, 100, 200]);
    expect([...request.iso!.lengths]).toEqual([100, 100, 100]);
    request.iso!.actual.set([100, 100, 50]);
    request.iso!.status.set([PacketStatus.OK, PacketStatus.OK, PacketStatus.ERROR]);
    settle({ status: 'ok', actualLength: 250, startFrame: 77 });
    const r = await urb.result;
    expect(r.header).toMatchObject({ status: 0, actualLength: 250, startFrame: 77, numberOfPackets: 3, errorCount: 1 });
    expect(r.data.length).toBe(0);
    expect(r.iso.map((d) => [d.offset, d.length, d.actualLength, d.status])).toEqual([
      [0, 100, 100, 0],
      [100, 100, 100, 0],
      [200, 100, 50, -Errno.EPROTO],
    ]);
  });

  it('iso IN: the model fills packed slots of its own whatever the host’s layout; the reply echoes the host’s descriptors', async () => {
    const model = new ManualModel();
    const { client } = await connectedPair(model);
    const iso = [
      { offset: 100, length: 100 },
      { offset: 0, length: 100 },
    ];
    const urb = client.submit({ ep: 1, direction: UsbipDirection.IN, length: 200, iso });
    await until(() => model.requests.length === 1);
    const { request, settle } = model.requests[0]!;
    expect([...request.iso!.offsets]).toEqual([0, 100]);
    expect([...request.iso!.lengths]).toEqual([100, 100]);
    request.buffer.fill(0xaa, 0, 20); // packet 0
    request.buffer.fill(0xbb, 100, 110); // packet 1
    request.iso!.actual.set([20, 10]);
    settle({ status: 'ok', actualLength: 30, startFrame: 5 });
    const r = await urb.result;
    expect([...r.data]).toEqual([...Array<number>(20).fill(0xaa), ...Array<number>(10).fill(0xbb)]);
    expect(r.iso.map((d) => [d.offset, d.length, d.actualLength])).toEqual([
      [100, 100, 20],
      [0, 100, 10],
    ]);
  });

  it('a model that claims more than the buffer is clamped; one that throws fails the URB with -EPROTO', async () => {
    const model = new ManualModel();
    const { client } = await connectedPair(model);
    const big = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 8 });
    await until(() => model.requests.length === 1);
    model.requests[0]!.settle({ status: 'ok', actualLength: 1_000_000, startFrame: 0 });
    expect((await big.result).header.actualLength).toBe(8);

    model.transfer = () => {
      throw new Error('model bug');
    };
    const broken = await client.submit({ ep: 2, direction: UsbipDirection.IN, length: 8 }).result;
    expect(broken.header.status).toBe(-Errno.EPROTO);
    model.transfer = () => Promise.reject(new Error('async model bug'));
    const broken2 = await client.submit({ ep: 2, direction: UsbipDirection.IN, length: 8 }).result;
    expect(broken2.header.status).toBe(-Errno.EPROTO);
  });

  it('maps device statuses to the errno the kernel expects', async () => {
    const model = new ManualModel();
    const { client } = await connectedPair(model);
    const cases: [EndpointReply['status'], number][] = [
      ['stall', -Errno.EPIPE],
      ['no_device', -Errno.ENODEV],
      ['overflow', -Errno.EOVERFLOW],
      ['error', -Errno.EPROTO],
    ];
    for (const [status, errno] of cases) {
      const urb = client.submit({ ep: 2, direction: UsbipDirection.IN, length: 8 });
      await until(() => model.requests.length > 0);
      model.requests.shift()!.settle({ status, actualLength: 0, startFrame: 0 });
      expect((await urb.result).header.status).toBe(errno);
    }
  });

  it('a model unplugged before the session starts ends it at once', async () => {
    const model = new ManualModel();
    model.attached = false;
    const { client, session } = await connectedPair(model);
    expect((await session.closed).reason).toBe('device-unplugged');
    await client.closed;
  });

  it('rejects absurd lengths as a protocol error', async () => {
    const model = new ManualModel();
    const { client, session } = await connectedPair(model);
    client.submit({ ep: 2, direction: UsbipDirection.IN, length: -5 });
    const end = await session.closed;
    expect(end.reason).toBe('protocol-error');
    expect(end.error?.message).toMatch(/transfer_buffer_length/);
  });
});
