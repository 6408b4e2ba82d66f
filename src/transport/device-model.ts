/**
 * The device side of the wire: what a USB device offers a host controller. The virtual camera implements it;
 * the in-process host (src/transport/virtual) and the USB/IP server (src/usbip) drive it. A model sees only
 * USB requests, never the driver, so anything that speaks USB could be its host.
 *
 * Time: the model owns its bus clock (SOF frame / microframe numbers). An iso IN request of N packets occupies
 * N bus intervals (times the endpoint's bInterval) and resolves when they have elapsed; requests queued on one
 * endpoint are served back to back. When no request is pending, the intervals pass anyway and what the device
 * would have sent in them is lost, as on a real bus. A model may offer a 'fast' pace with a virtual clock that
 * advances only when the host asks (benchmarks).
 *
 * A request the device never answers (a control it ignores, a bulk endpoint with nothing to say) stays pending
 * until its `signal` aborts; the host turns that into its own timeout. Models never time out by themselves.
 */
import type { UsbSpeed } from '../spec/usb.js';

/** A SETUP packet. */
export interface SetupPacket {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
  wLength: number;
}

/**
 * 'ok': handshake ACK (data for IN). 'stall': the endpoint answered STALL. 'no_device': the device is unplugged.
 * 'cancelled': the request's signal aborted it. 'overflow': the device sent more than the host asked for (babble).
 * 'error': a bus error (CRC, bit stuffing) spoiled the transaction.
 */
export type DeviceReplyStatus = 'ok' | 'stall' | 'no_device' | 'cancelled' | 'overflow' | 'error';

export interface ControlReply {
  status: DeviceReplyStatus;
  /** IN: the data stage. The device may send less than wLength, never more (the host truncates). */
  data?: Uint8Array;
  /**
   * OUT: how many bytes of the data stage the device took before it acknowledged (default: all of them). Fewer is a
   * device bug some firmware has (the host sees a short control write).
   */
  accepted?: number;
}

/** Per-packet result of an iso request; the numbers deliberately equal libusb's transfer status values. */
export const PacketStatus = {
  OK: 0,
  ERROR: 1,
  OVERFLOW: 6,
} as const;

/** The host's iso packet slots for one request. The device fills `actual` and `status`. */
export interface IsoPacketSlots {
  count: number;
  /** Where packet i goes in the request's buffer. */
  offsets: Int32Array;
  /** Room for packet i (the host's iso_frame_desc length). */
  lengths: Int32Array;
  /** Filled by the device: bytes it sent in packet i (0 for an empty packet). */
  actual: Int32Array;
  /** Filled by the device: a PacketStatus value. */
  status: Int32Array;
}

export interface EndpointRequest {
  /** Endpoint address with its direction bit, e.g. 0x81. */
  endpoint: number;
  /** IN: the device writes into it (up to its length). OUT: the data to deliver. */
  buffer: Uint8Array;
  /** Present for isochronous endpoints. */
  iso?: IsoPacketSlots;
  signal?: AbortSignal;
}

export interface EndpointReply {
  status: DeviceReplyStatus;
  /** Bytes transferred: bulk/interrupt IN the data length, iso the sum of the packets' actual lengths. */
  actualLength: number;
  /** Bus frame number of the request's first packet (iso), as SOF counts it. */
  startFrame: number;
  /**
   * iso: bus intervals of this endpoint that passed with no request pending just before this one started: what
   * the device produced in them was lost. Only the device knows this exactly (its clock may be virtual), so the
   * host passes it on as CompletedTransfer.lostIntervals. Absent means 0.
   */
  missedIntervals?: number;
}

export interface UsbDeviceModel {
  readonly speed: UsbSpeed;
  /** False between unplug and replug. */
  readonly attached: boolean;

  /**
   * Endpoint 0. For IN requests (bmRequestType bit 7) the reply carries the data stage; for OUT requests
   * `data` is the data stage the host sent (wLength bytes).
   */
  control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply>;

  /** A transfer on any other endpoint. */
  transfer(request: EndpointRequest): Promise<EndpointReply>;

  /**
   * 'unplug': the device left the bus; pending and later requests answer 'no_device'.
   * 'replug': it came back and must be enumerated afresh (a new device from the host's point of view).
   */
  on(event: 'unplug' | 'replug', listener: () => void): this;
  off(event: 'unplug' | 'replug', listener: () => void): this;
  once(event: 'unplug' | 'replug', listener: () => void): this;
}

export function isUsbDeviceModel(value: unknown): value is UsbDeviceModel {
  const v = value as Partial<UsbDeviceModel> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.control === 'function' &&
    typeof v.transfer === 'function' &&
    typeof v.speed === 'string'
  );
}
