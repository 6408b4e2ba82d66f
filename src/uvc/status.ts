/**
 * Packets of the VideoControl status interrupt endpoint: control changes (a value the camera changed by itself,
 * the completion of an asynchronous control, new capabilities or ranges) and the still-image button of a
 * streaming interface. What the specification reserves comes back as a typed 'unknown' event; a packet too short
 * to be what its type says is EINVAL.
 */
import { UvcError } from '../errors.js';
import { StatusAttribute, StatusType } from '../spec/uvc.js';

export type ControlChangeAttribute = 'value' | 'info' | 'failure' | 'min' | 'max';

export interface ControlChangeEvent {
  type: 'control';
  /** bOriginator: the unit or terminal ID. */
  originator: number;
  selector: number;
  attribute: ControlChangeAttribute;
  /** The bytes as the matching GET request returns them (GET_CUR, GET_INFO, …); for 'failure', the error code. */
  value: Uint8Array;
}

export interface ButtonEvent {
  type: 'button';
  /** bOriginator: the VideoStreaming interface number. */
  interfaceNumber: number;
  pressed: boolean;
}

export interface UnknownStatusEvent {
  type: 'unknown';
  statusType: number;
  originator: number;
  event: number;
  reason: string;
  bytes: Uint8Array;
}

export type StatusEvent = ControlChangeEvent | ButtonEvent | UnknownStatusEvent;

const ATTRIBUTES: Readonly<Record<number, ControlChangeAttribute>> = {
  [StatusAttribute.VALUE_CHANGE]: 'value',
  [StatusAttribute.INFO_CHANGE]: 'info',
  [StatusAttribute.FAILURE_CHANGE]: 'failure',
  [StatusAttribute.MIN_CHANGE]: 'min',
  [StatusAttribute.MAX_CHANGE]: 'max',
};

function malformed(bytes: Uint8Array, message: string): UvcError {
  return new UvcError('EINVAL', `status packet ${message}`, { details: { length: bytes.length, bytes: Array.from(bytes.subarray(0, 16)) } });
}

export function decodeStatusPacket(bytes: Uint8Array): StatusEvent {
  if (!(bytes instanceof Uint8Array)) throw new UvcError('EINVAL', 'status packet must be a Uint8Array');
  if (bytes.length < 3) throw malformed(bytes, `of ${bytes.length} bytes: at least 3 (type, originator, event) are needed`);
  const statusType = bytes[0]! & 0x0f;
  const originator = bytes[1]!;
  const event = bytes[2]!;
  const unknown = (reason: string): UnknownStatusEvent => ({ type: 'unknown', statusType, originator, event, reason, bytes: bytes.slice() });

  if (statusType === StatusType.VIDEO_CONTROL) {
    if (event !== 0) return unknown(`reserved VideoControl event 0x${event.toString(16).padStart(2, '0')}`);
    if (bytes.length < 5) throw malformed(bytes, `of ${bytes.length} bytes: a control change needs at least 5 (selector, attribute)`);
    const attribute = ATTRIBUTES[bytes[4]!];
    if (attribute === undefined) return unknown(`reserved control change attribute 0x${bytes[4]!.toString(16).padStart(2, '0')}`);
    return { type: 'control', originator, selector: bytes[3]!, attribute, value: bytes.slice(5) };
  }
  if (statusType === StatusType.VIDEO_STREAMING) {
    if (event !== 0) return unknown(`reserved VideoStreaming event 0x${event.toString(16).padStart(2, '0')}`);
    if (bytes.length < 4) throw malformed(bytes, `of ${bytes.length} bytes: a button event needs its value byte`);
    return { type: 'button', interfaceNumber: originator, pressed: bytes[3]! !== 0 };
  }
  return unknown(`reserved status type 0x${statusType.toString(16)}`);
}
