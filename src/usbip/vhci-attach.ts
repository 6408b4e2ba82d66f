/**
 * Plugs a device model straight into this machine's vhci_hcd, without usbipd or the usbip tool: the kernel's
 * sysfs `attach` file takes "<port> <sockfd> <devid> <speed>" where sockfd is any connected SOCK_STREAM socket of
 * the writing process. Node cannot make a socketpair, but both ends of a loopback TCP connection are in our
 * hands: one end goes to the kernel, the other carries the URB traffic to the model. Linux only, root only.
 */
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { UvcError } from '../errors.js';
import type { UsbDeviceModel } from '../transport/device-model.js';
import { kernelSpeedOf } from './device-info.js';
import { UsbipDeviceSession, type UsbipSessionEnd, type UsbipSessionOptions } from './device-session.js';
import { readEndpointLimits } from './endpoint-limits.js';

export const DEFAULT_VHCI_SYSFS = '/sys/devices/platform/vhci_hcd.0';

/** vhci's port state VDEV_ST_NULL: nothing attached. */
const PORT_FREE = 4;

export interface VhciAttachOptions {
  model: UsbDeviceModel;
  /** The vhci_hcd platform device's sysfs directory. */
  vhci?: string;
  /** A vhci port number; default: the first free port of the hub matching the model's speed. */
  port?: number;
  /** devid = busnum << 16 | devnum, as the host's USB/IP layer sees it (defaults 1 and 2). */
  busnum?: number;
  devnum?: number;
  session?: Omit<UsbipSessionOptions, 'initialData' | 'endpoints'>;
}

export interface VhciAttachment {
  /** The vhci port (as `usbip port` and the sysfs status file number them). */
  readonly port: number;
  readonly session: UsbipDeviceSession;
  /** Unplugs through vhci's `detach` file and waits for the session to end. */
  detach(): Promise<UsbipSessionEnd>;
}

export interface VhciPort {
  hub: 'hs' | 'ss';
  port: number;
  state: number;
}

/** Parses vhci's `status` file ("hub port sta spd dev sockfd local_busid" lines). */
export function parseVhciStatus(text: string): VhciPort[] {
  const ports: VhciPort[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if ((f[0] !== 'hs' && f[0] !== 'ss') || f.length < 3) continue;
    ports.push({ hub: f[0], port: Number.parseInt(f[1]!, 10), state: Number.parseInt(f[2]!, 10) });
  }
  return ports;
}

export async function attachToVhci(options: VhciAttachOptions): Promise<VhciAttachment> {
  const { model } = options;
  const vhci = options.vhci ?? DEFAULT_VHCI_SYSFS;
  if (!model.attached) throw new UvcError('ENODEV', 'the device model is unplugged');
  const speed = kernelSpeedOf(model.speed);
  const hub = model.speed === 'super' || model.speed === 'super-plus' ? 'ss' : 'hs';
  let status: string;
  try {
    status = await readFile(`${vhci}/status`, 'utf8');
  } catch (err) {
    throw new UvcError('ENOENT', `no vhci_hcd at ${vhci} (is the vhci-hcd module loaded?)`, { cause: err });
  }
  const ports = parseVhciStatus(status);
  const port = options.port ?? ports.find((p) => p.hub === hub && p.state === PORT_FREE)?.port;
  if (port === undefined) throw new UvcError('EBUSY', `no free ${hub} port on ${vhci}`);
  const devid = (((options.busnum ?? 1) & 0xffff) << 16) | ((options.devnum ?? 2) & 0xffff);
  const endpoints = await readEndpointLimits(model);

  const { kernelEnd, ourEnd } = await loopbackPair();
  // The kernel reads the socket itself from now on; Node must not read a byte of it.
  const fd = (kernelEnd as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    kernelEnd.destroy();
    ourEnd.destroy();
    throw new UvcError('ENOTSUP', 'cannot get the file descriptor of a TCP socket on this platform');
  }
  try {
    await writeFile(`${vhci}/attach`, `${port} ${fd} ${devid} ${speed}`);
  } catch (err) {
    kernelEnd.destroy();
    ourEnd.destroy();
    throw new UvcError('EIO', `vhci refused the attach of port ${port}`, { cause: err });
  }
  // vhci holds its own reference to the socket: closing our descriptor leaves the connection up.
  kernelEnd.destroy();
  const session = new UsbipDeviceSession(ourEnd, model, { ...options.session, endpoints });
  return {
    port,
    session,
    async detach() {
      if (!session.isClosed) {
        try {
          await writeFile(`${vhci}/detach`, `${port}`);
        } catch {
          // Already detached by someone else: the session ends by itself.
        }
      }
      return session.closed;
    },
  };
}

/** Two connected loopback TCP sockets; the first one never starts reading. */
async function loopbackPair(): Promise<{ kernelEnd: net.Socket; ourEnd: net.Socket }> {
  const listener = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const address = listener.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const kernelEnd = new net.Socket();
    kernelEnd.pause();
    await new Promise<void>((resolve, reject) => {
      kernelEnd.once('error', reject);
      kernelEnd.connect(address.port, '127.0.0.1', () => {
        kernelEnd.off('error', reject);
        resolve();
      });
    });
    return { kernelEnd, ourEnd: await accepted };
  } finally {
    listener.close();
  }
}
