/**
 * Device models that wrap a VirtualCamera to make one edge of a device's life happen on cue: the camera itself
 * stays as it is, the wrapper only decides when it acts.
 */
import type { ControlReply, EndpointReply, EndpointRequest, SetupPacket, UsbDeviceModel } from '../../src/transport/device-model.js';
import type { VirtualCamera } from '../../src/virtual-camera/index.js';

type Listener = () => void;

abstract class WrappedModel implements UsbDeviceModel {
  constructor(readonly camera: VirtualCamera) {}
  get speed(): UsbDeviceModel['speed'] {
    return this.camera.speed;
  }
  get attached(): boolean {
    return this.camera.attached;
  }
  control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    return this.camera.control(setup, data, signal);
  }
  transfer(request: EndpointRequest): Promise<EndpointReply> {
    return this.camera.transfer(request);
  }
  on(event: 'unplug' | 'replug', listener: Listener): this {
    this.camera.on(event, listener);
    return this;
  }
  off(event: 'unplug' | 'replug', listener: Listener): this {
    this.camera.off(event, listener);
    return this;
  }
  once(event: 'unplug' | 'replug', listener: Listener): this {
    this.camera.once(event, listener);
    return this;
  }
}

/** Unplugs the camera when the host first asks for a string descriptor (what openCamera reads last). */
export class UnplugOnStringRead extends WrappedModel {
  armed = true;
  override control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    const stringRead = setup.bmRequestType === 0x80 && setup.bRequest === 0x06 && setup.wValue >> 8 === 3 && (setup.wValue & 0xff) !== 0;
    if (stringRead && this.armed) {
      this.armed = false;
      this.camera.unplug();
    }
    return super.control(setup, data, signal);
  }
}

/** Cancelled transfers come back `delayMs` after the cancel, as real URBs do (the host controller must let go). */
export class SlowCancel extends WrappedModel {
  constructor(
    camera: VirtualCamera,
    readonly delayMs: number,
  ) {
    super(camera);
  }
  /** Called when the host cancels a transfer on an endpoint (before the slow return begins). */
  onCancel: ((endpoint: number) => void) | null = null;

  override transfer(request: EndpointRequest): Promise<EndpointReply> {
    const outer = request.signal;
    if (outer === undefined) return super.transfer(request);
    const inner = new AbortController();
    const onAbort = (): void => {
      this.onCancel?.(request.endpoint);
      setTimeout(() => inner.abort(), this.delayMs);
    };
    if (outer.aborted) onAbort();
    else outer.addEventListener('abort', onAbort, { once: true });
    return super.transfer({ ...request, signal: inner.signal }).finally(() => outer.removeEventListener('abort', onAbort));
  }
}

/** While `failing`, every transfer on the video endpoint fails at once (a bus error, every time). */
export class FailingVideoEndpoint extends WrappedModel {
  failing = true;
  failures = 0;
  constructor(
    camera: VirtualCamera,
    readonly endpoint = 0x81,
  ) {
    super(camera);
  }
  override transfer(request: EndpointRequest): Promise<EndpointReply> {
    if (this.failing && request.endpoint === this.endpoint && this.camera.attached) {
      this.failures++;
      return Promise.resolve({ status: 'error', actualLength: 0, startFrame: 0 });
    }
    return super.transfer(request);
  }
}
