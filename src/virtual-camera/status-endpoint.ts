/**
 * The VideoControl status interrupt endpoint: the device's way to tell the host that something changed by
 * itself (a control moved in an automatic mode, a switch, the camera button). Each interrupt transfer returns
 * one status packet; with none to report the device NAKs and the transfer waits.
 */
import type { DeviceReplyStatus, EndpointReply, EndpointRequest } from '../transport/device-model.js';
import { StatusAttribute, StatusType } from '../spec/uvc.js';
import { sofFrameNumber, type BusClock } from './bus-clock.js';

/** How many undelivered packets the device keeps; older ones are overwritten like a small hardware FIFO. */
const QUEUE_LIMIT = 32;

export function controlStatusPacket(entityId: number, selector: number, value: Uint8Array, attribute: number = StatusAttribute.VALUE_CHANGE): Uint8Array {
  const packet = new Uint8Array(5 + value.length);
  packet.set([StatusType.VIDEO_CONTROL, entityId, 0x00, selector, attribute]);
  packet.set(value, 5);
  return packet;
}

export function buttonStatusPacket(vsInterface: number, pressed: boolean): Uint8Array {
  return Uint8Array.from([StatusType.VIDEO_STREAMING, vsInterface, 0x00, pressed ? 1 : 0]);
}

interface Pending {
  request: EndpointRequest;
  resolve: (reply: EndpointReply) => void;
  detach: () => void;
}

export class StatusEndpoint {
  private readonly packets: Uint8Array[] = [];
  private readonly waiting: Pending[] = [];
  /** Packets dropped because nobody read them in time. */
  overwritten = 0;

  constructor(private readonly clock: BusClock) {}

  get queued(): number {
    return this.packets.length;
  }

  post(packet: Uint8Array): void {
    this.packets.push(packet);
    if (this.packets.length > QUEUE_LIMIT) {
      this.packets.shift();
      this.overwritten++;
    }
    this.deliver();
  }

  submit(request: EndpointRequest): Promise<EndpointReply> {
    return new Promise<EndpointReply>((resolve) => {
      const pending: Pending = { request, resolve, detach: () => {} };
      const signal = request.signal;
      if (signal) {
        if (signal.aborted) {
          resolve({ status: 'cancelled', actualLength: 0, startFrame: this.frame() });
          return;
        }
        const onAbort = () => {
          const i = this.waiting.indexOf(pending);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            resolve({ status: 'cancelled', actualLength: 0, startFrame: this.frame() });
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(pending);
      this.deliver();
    });
  }

  /** Fails the waiting transfers (halt, unplug). Queued packets are kept unless `clear`. */
  fail(status: DeviceReplyStatus, clear: boolean): void {
    for (const p of this.waiting.splice(0)) {
      p.detach();
      p.resolve({ status, actualLength: 0, startFrame: this.frame() });
    }
    if (clear) this.packets.length = 0;
  }

  private frame(): number {
    return sofFrameNumber(this.clock, this.clock.now());
  }

  private deliver(): void {
    while (this.waiting.length > 0 && this.packets.length > 0) {
      const p = this.waiting.shift()!;
      const packet = this.packets.shift()!;
      p.detach();
      const buffer = p.request.buffer;
      if (packet.length > buffer.length) {
        buffer.set(packet.subarray(0, buffer.length));
        p.resolve({ status: 'overflow', actualLength: buffer.length, startFrame: this.frame() });
      } else {
        buffer.set(packet);
        p.resolve({ status: 'ok', actualLength: packet.length, startFrame: this.frame() });
      }
    }
  }
}
