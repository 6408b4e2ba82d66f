/**
 * The video path below the Camera API, wired by hand the way StreamingInterface wires it (claim, alt 0, probe +
 * commit, the alt setting that carries the mode, the VideoStream config, openCamera's transfer sizing), for the
 * two measurements that need to stand between the layers: the virtual camera alone (the transport stream with
 * no driver behind it) and the latency (the transport's completion time of each frame's last transfer).
 */
import { assemblyKindOf, expectedFrameBytes } from '../../src/camera/camera-formats.js';
import { planTransfers, type TransferPlan } from '../../src/stream/transfer-sizing.js';
import type { VideoStreamConfig } from '../../src/stream/video-stream.js';
import type { UsbTransport } from '../../src/transport/usb-transport.js';
import { openVirtualDevice } from '../../src/transport/virtual/virtual-transport.js';
import { negotiateStream, parseUvcDescriptors, type FormatRequest, type StreamParameters } from '../../src/uvc/index.js';
import type { VirtualCamera } from '../../src/virtual-camera/index.js';
import { OPEN_CAMERA_IN_FLIGHT_MS } from '../assembly.js';

export interface ManualStream {
  transport: UsbTransport;
  params: StreamParameters;
  config: VideoStreamConfig;
  plan: TransferPlan;
  /** Alt 0 and close the transport. */
  close(): Promise<void>;
}

export async function openManualStream(model: VirtualCamera, request: FormatRequest): Promise<ManualStream> {
  const transport = await openVirtualDevice(model);
  try {
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const vs = fn.streamingInterfaces.find((s) => s.direction === 'in');
    if (vs === undefined) throw new Error('the virtual camera has no video input interface');
    await transport.claimInterface(fn.videoControl.interfaceNumber);
    await transport.claimInterface(vs.interfaceNumber);
    if (vs.transferType === 'isochronous') await transport.setAltSetting(vs.interfaceNumber, 0);
    const params = await negotiateStream(transport, fn, { ...request, interfaceNumber: vs.interfaceNumber });
    const iso = params.transferType === 'isochronous';
    if (iso) await transport.setAltSetting(vs.interfaceNumber, params.altSetting);
    const alt = vs.altSettings.find((a) => a.alternateSetting === params.altSetting);
    const config: VideoStreamConfig = {
      endpoint: params.endpointAddress,
      transferType: iso ? 'iso' : 'bulk',
      speed: transport.info.speed,
      dwMaxPayloadTransferSize: params.dwMaxPayloadTransferSize,
      dwMaxVideoFrameSize: params.dwMaxVideoFrameSize,
      formatKind: assemblyKindOf(params),
      dwClockFrequency: params.dwClockFrequency,
      frameIntervalNs: params.interval * 100,
      targetInFlightMs: OPEN_CAMERA_IN_FLIGHT_MS,
    };
    if (iso) {
      config.bytesPerInterval = params.bytesPerInterval;
      if (alt) config.bInterval = alt.interval;
    } else {
      const bulk = vs.altSettings.find((a) => a.transferType === 'bulk');
      if (bulk) config.maxPacketSize = bulk.maxPacketSize;
    }
    const expected = expectedFrameBytes(params);
    if (expected !== undefined) config.expectedFrameSize = expected;
    const plan = planTransfers({
      transferType: config.transferType,
      speed: config.speed,
      bytesPerInterval: config.bytesPerInterval,
      bInterval: config.bInterval,
      maxPacketSize: config.maxPacketSize,
      dwMaxPayloadTransferSize: config.dwMaxPayloadTransferSize,
      dwMaxVideoFrameSize: config.dwMaxVideoFrameSize,
      targetInFlightMs: config.targetInFlightMs,
    });
    return {
      transport,
      params,
      config,
      plan,
      async close() {
        if (iso && !transport.isDisconnected) await transport.setAltSetting(vs.interfaceNumber, 0).catch(() => undefined);
        await transport.close();
      },
    };
  } catch (error) {
    await transport.close();
    throw error;
  }
}
