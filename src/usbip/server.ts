/**
 * A usbipd in TypeScript: exports device models over TCP so that any Linux box can plug them in with Debian's
 * `usbip attach -r HOST -b BUSID` (the kernel's vhci_hcd then drives them as real USB devices).
 *
 * One TCP connection per request, as usbipd does: OP_REQ_DEVLIST is answered and the connection closed;
 * OP_REQ_IMPORT is answered and, on success, the same connection carries the device's URB traffic
 * (UsbipDeviceSession) until either side ends it. A device is imported by one host at a time.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { UvcError } from '../errors.js';
import type { UsbDeviceModel } from '../transport/device-model.js';
import { readUsbipDeviceInfo } from './device-info.js';
import { UsbipDeviceSession, type UsbipSessionEnd, type UsbipSessionOptions } from './device-session.js';
import {
  BUSID_SIZE,
  OP_COMMON_SIZE,
  OP_IMPORT_REQUEST_SIZE,
  OpCode,
  OpStatus,
  USBIP_DEFAULT_PORT,
  USBIP_VERSION,
  decodeImportRequest,
  decodeOpCommon,
  encodeDevlistReply,
  encodeImportReply,
  type UsbipDeviceInfo,
} from './protocol.js';

export interface UsbipExport {
  /** The name hosts import it by, e.g. '1-1' (at most 31 bytes). */
  busid: string;
  model: UsbDeviceModel;
  /** busnum/devnum announced to the host (devid = busnum << 16 | devnum). Defaults: 1 and the export's index + 2. */
  busnum?: number;
  devnum?: number;
}

export interface UsbipServerOptions {
  devices: readonly UsbipExport[];
  /** Default 127.0.0.1: exporting to other machines is a deliberate choice. */
  host?: string;
  /** Default 3240 (usbipd's); 0 picks a free port. */
  port?: number;
  session?: Omit<UsbipSessionOptions, 'initialData'>;
  /** How long the model may take to answer the descriptor reads of the handshake (default 5000 ms). */
  descriptorTimeoutMs?: number;
}

export interface UsbipAttachEvent {
  busid: string;
  remote: string;
  session: UsbipDeviceSession;
}

export interface UsbipDetachEvent extends UsbipSessionEnd {
  busid: string;
  remote: string;
  /** The ended session (its stats stay readable). */
  session: UsbipDeviceSession;
}

export interface UsbipRejectEvent {
  busid: string;
  remote: string;
  /** OpStatus sent to the host. */
  status: number;
  error?: Error;
}

interface ExportState {
  busid: string;
  model: UsbDeviceModel;
  busnum: number;
  devnum: number;
  session: UsbipDeviceSession | null;
  /** An import handshake is reading the descriptors. */
  importing: boolean;
}

export interface UsbipServer {
  on(event: 'attach', listener: (e: UsbipAttachEvent) => void): this;
  on(event: 'detach', listener: (e: UsbipDetachEvent) => void): this;
  on(event: 'reject', listener: (e: UsbipRejectEvent) => void): this;
  once(event: 'attach', listener: (e: UsbipAttachEvent) => void): this;
  once(event: 'detach', listener: (e: UsbipDetachEvent) => void): this;
  once(event: 'reject', listener: (e: UsbipRejectEvent) => void): this;
  off(event: 'attach' | 'detach' | 'reject', listener: (...args: never[]) => void): this;
}

export class UsbipServer extends EventEmitter {
  readonly host: string;
  private readonly exports = new Map<string, ExportState>();
  private readonly handshakes = new Set<net.Socket>();
  private closing: Promise<void> | null = null;

  /** Use startUsbipServer(). */
  constructor(
    private readonly server: net.Server,
    options: UsbipServerOptions,
  ) {
    super();
    this.host = options.host ?? '127.0.0.1';
    options.devices.forEach((d, index) => {
      if (this.exports.has(d.busid)) throw new UvcError('EINVAL', `busid '${d.busid}' exported twice`);
      if (Buffer.byteLength(d.busid) >= BUSID_SIZE || d.busid.length === 0) {
        throw new UvcError('EINVAL', `busid '${d.busid}' must be 1–${BUSID_SIZE - 1} bytes`);
      }
      this.exports.set(d.busid, { busid: d.busid, model: d.model, busnum: d.busnum ?? 1, devnum: d.devnum ?? index + 2, session: null, importing: false });
    });
    server.on('connection', (socket) => this.onConnection(socket, options));
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The session serving `busid`, if a host has it imported. */
  sessionOf(busid: string): UsbipDeviceSession | null {
    return this.exports.get(busid)?.session ?? null;
  }

  /** Stops listening and unplugs every imported device (the hosts see a disconnect). */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.handshakes) s.destroy();
      for (const e of this.exports.values()) e.session?.close('server-closed');
    });
    return this.closing;
  }

  private onConnection(socket: net.Socket, options: UsbipServerOptions): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.handshakes.add(socket);
    socket.on('close', () => this.handshakes.delete(socket));
    socket.on('error', () => socket.destroy());
    let received: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length < OP_COMMON_SIZE) return;
      const op = decodeOpCommon(received);
      if (op.version !== USBIP_VERSION || (op.code !== OpCode.REQ_DEVLIST && op.code !== OpCode.REQ_IMPORT)) {
        // usbipd drops a peer it does not understand without a word.
        socket.destroy();
        return;
      }
      if (op.code === OpCode.REQ_DEVLIST) {
        socket.off('data', onData);
        this.answerDevlist(socket, options.descriptorTimeoutMs);
        return;
      }
      if (received.length < OP_IMPORT_REQUEST_SIZE) return;
      socket.off('data', onData);
      socket.pause();
      const { busid } = decodeImportRequest(received);
      this.answerImport(socket, remote, busid, received.subarray(OP_IMPORT_REQUEST_SIZE), options);
    };
    socket.on('data', onData);
  }

  private answerDevlist(socket: net.Socket, timeoutMs: number | undefined): void {
    void (async () => {
      const devices: UsbipDeviceInfo[] = [];
      for (const e of this.exports.values()) {
        if (!e.model.attached) continue; // not on the bus: not exportable
        try {
          devices.push(await readUsbipDeviceInfo(e.model, this.addressOf(e), timeoutMs));
        } catch {
          // A device that can't describe itself is left out of the list, as usbipd skips unreadable ones.
        }
      }
      if (!socket.destroyed) socket.end(encodeDevlistReply(devices));
    })();
  }

  private answerImport(socket: net.Socket, remote: string, busid: string, rest: Buffer, options: UsbipServerOptions): void {
    void (async () => {
      const e = this.exports.get(busid);
      const reject = (status: number, error?: Error): void => {
        this.emit('reject', error === undefined ? { busid, remote, status } : { busid, remote, status, error });
        if (!socket.destroyed) socket.end(encodeImportReply(status));
      };
      if (e === undefined || !e.model.attached) return reject(OpStatus.NODEV);
      if (e.session !== null || e.importing) return reject(OpStatus.DEV_BUSY);
      if (this.closing !== null) return reject(OpStatus.NA);
      // Claim the device before the first await so that a concurrent import sees it busy.
      e.importing = true;
      let info: UsbipDeviceInfo;
      try {
        info = await readUsbipDeviceInfo(e.model, this.addressOf(e), options.descriptorTimeoutMs);
      } catch (err) {
        return reject(OpStatus.DEV_ERR, err instanceof Error ? err : new Error(String(err)));
      } finally {
        e.importing = false;
      }
      if (socket.destroyed || this.closing !== null || !e.model.attached) {
        return socket.destroyed ? undefined : reject(OpStatus.NA);
      }
      socket.write(encodeImportReply(OpStatus.OK, info));
      this.handshakes.delete(socket);
      const session = new UsbipDeviceSession(socket, e.model, { ...options.session, initialData: rest });
      e.session = session;
      this.emit('attach', { busid, remote, session });
      void session.closed.then((end) => {
        if (e.session === session) e.session = null;
        this.emit('detach', { busid, remote, session, ...end });
      });
    })();
  }

  private addressOf(e: ExportState): { busid: string; busnum: number; devnum: number; path: string } {
    return { busid: e.busid, busnum: e.busnum, devnum: e.devnum, path: `/sys/devices/platform/uvc-capture/usbip/${e.busid}` };
  }
}

/** Starts a usbipd-compatible server. Resolves once it listens. */
export async function startUsbipServer(options: UsbipServerOptions): Promise<UsbipServer> {
  const server = net.createServer();
  const usbip = new UsbipServer(server, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? USBIP_DEFAULT_PORT, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return usbip;
}
