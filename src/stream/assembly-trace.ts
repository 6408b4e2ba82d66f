/**
 * The assembler's trace: `NODE_DEBUG=uvc` prints why every frame ended, why it was flagged or dropped, and what
 * was learned about the camera, so "why was my frame flagged" always has an answer. Cheap when off: the
 * assembler checks `enabled` once, at construction, and builds no message otherwise.
 */
import { debuglog } from 'node:util';

const log = debuglog('uvc');

export function traceEnabled(): boolean {
  return log.enabled;
}

export function trace(message: string): void {
  log('%s', message);
}

/** Why a frame was flagged: bits of FrameFlag, several may apply. */
export const FrameFlag = {
  /** A payload carried the ERR bit. */
  ERR_BIT: 1,
  /** An iso packet or a transfer failed while the frame was open. */
  LOST_PACKET: 2,
  /** A payload header was refused while the frame was open. */
  INVALID_HEADER: 4,
  /** The SCR's SOF counter jumped over bus frames none of our packets covered while the frame was open. */
  LOST_TIME: 8,
  /** Something was lost just before the frame began: it may lack its start. */
  START_UNSURE: 16,
  /** The data did not fit the buffer. */
  OVERFLOW: 32,
  /** An uncompressed frame that is not exactly the expected size. */
  SIZE: 64,
  /** An MJPEG frame without SOI, an H.264 frame without a start code: joined in the middle. */
  NO_START_MARK: 128,
  /** An MJPEG frame without EOI (trailing zero padding allowed): cut short. */
  NO_END_MARK: 256,
  /** The PTS changed inside the frame: data of two frames ran together. */
  PTS_CHANGED: 512,
} as const;

const FLAG_NAMES: readonly [number, string][] = [
  [FrameFlag.ERR_BIT, 'ERR bit'],
  [FrameFlag.LOST_PACKET, 'lost packet'],
  [FrameFlag.INVALID_HEADER, 'invalid header'],
  [FrameFlag.LOST_TIME, 'SOF jumped over lost bus time'],
  [FrameFlag.START_UNSURE, 'loss before its start'],
  [FrameFlag.OVERFLOW, 'overflow'],
  [FrameFlag.SIZE, 'wrong size'],
  [FrameFlag.NO_START_MARK, 'no start mark'],
  [FrameFlag.NO_END_MARK, 'no end mark'],
  [FrameFlag.PTS_CHANGED, 'PTS changed inside it'],
];

export function describeFlags(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if ((flags & bit) !== 0) names.push(name);
  return names.join(', ');
}
