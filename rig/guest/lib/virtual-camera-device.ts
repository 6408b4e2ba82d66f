/**
 * The VirtualCamera as a model for serve.ts (`--options` are its VirtualCameraOptions), with a record of the class
 * requests it refused, so a check can tell a refusal by the device (a STALL it logged here) from one the host's
 * driver made without asking it. Served with `call <method>`: stalledRequests(), clearStalledRequests(),
 * controlValue(), videoStats(), damagedFrames(), streamsBegun(), and the camera's own setPrivacyShutter(),
 * pressButton(), unplug(), replug(), …
 */
import type { ControlReply, SetupPacket } from '../../../src/transport/device-model.js';
import { VirtualCamera, type FrameFault, type SentFrame, type VirtualCameraOptions } from '../../../src/virtual-camera/index.js';

export interface StalledRequest {
  bRequest: number;
  /** wIndex high byte: the unit or terminal (0 for interface controls). */
  entity: number;
  interfaceNumber: number;
  /** wValue high byte: the control selector. */
  selector: number;
  /** The data stage the host sent (SET_CUR). */
  data: number[];
  /** bRequestErrorCode the device gave for it (its REQUEST_ERROR_CODE control, read from the model directly). */
  errorCode: number | null;
}

/** A frame the camera's ground truth (sentFrames) records as damaged: no host can have had it whole. */
export interface DamagedFrame {
  stream: number;
  sequence: number;
  status: SentFrame['status'];
  faults: FrameFault[];
}

const TYPE_MASK = 0x60;
const TYPE_CLASS = 0x20;

export class RecordingCamera extends VirtualCamera {
  private readonly stalls: StalledRequest[] = [];

  override async control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    const reply = await super.control(setup, data, signal);
    if (reply.status === 'stall' && (setup.bmRequestType & TYPE_MASK) === TYPE_CLASS) {
      // GET_CUR(VC_REQUEST_ERROR_CODE_CONTROL) on the VideoControl interface: reading it changes nothing.
      const code = await super.control({ bmRequestType: 0xa1, bRequest: 0x81, wValue: 0x0200, wIndex: this.config.layout.vcInterface, wLength: 1 }, undefined);
      this.stalls.push({
        bRequest: setup.bRequest,
        entity: (setup.wIndex >> 8) & 0xff,
        interfaceNumber: setup.wIndex & 0xff,
        selector: (setup.wValue >> 8) & 0xff,
        data: Array.from(data ?? []),
        errorCode: code.status === 'ok' && code.data !== undefined && code.data.length > 0 ? code.data[0]! : null,
      });
    }
    return reply;
  }

  stalledRequests(): StalledRequest[] {
    return [...this.stalls];
  }

  clearStalledRequests(): void {
    this.stalls.length = 0;
  }

  /** A control's current value as the device holds it (its fields, e.g. [pan, tilt]). */
  controlValue(name: string): number[] {
    return this.controls.current(this.controls.definition(name));
  }

  /** Every damaged frame in the ground truth (the newest sentFramesLimit records), oldest first. */
  damagedFrames(): DamagedFrame[] {
    return this.sentFrames.filter((f) => f.damaged).map((f) => ({ stream: f.stream, sequence: f.sequence, status: f.status, faults: [...f.faults] }));
  }

  /** Streams that captured a frame since the camera was made (the ground truth's stream numbers run 0…n−1). */
  streamsBegun(): number {
    return this.sentFrames.reduce((n, f) => Math.max(n, f.stream + 1), 0);
  }

  /** What the device's video function did: frames sent and frames it captured but could not send. */
  videoStats(): { framesSent: number; framesDropped: number; streaming: boolean } {
    return { framesSent: this.framesSent, framesDropped: this.framesDropped, streaming: this.streaming };
  }
}

export default function makeVirtualCamera(options: VirtualCameraOptions = {}): VirtualCamera {
  return new RecordingCamera(options);
}
