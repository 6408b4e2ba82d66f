/** The virtual UVC camera: a USB device model speaking UVC, for tests, demos, benchmarks and USB/IP. */
export { VirtualCamera, type UnplugWhen } from './virtual-camera.js';
export type { VirtualCameraOptions } from './options.js';
export type { UvcVersion, VirtualSpeed, VirtualTransfer, Pace } from './types.js';
export type { FormatSpec, FrameSpec, PixelFormat } from './formats.js';
export type { FaultOptions, FrameSet, RequestMatch, StallMatch } from './faults.js';
export { decodeFrameStamp, type StampImage } from './frame-stamp.js';
export { EXTENSION_UNIT_GUID, EXTENSION_UNIT_GUID_TEXT, XuControl } from './entities.js';
export { TestPattern } from './pattern.js';
export { stripHuffmanTables } from './jpeg.js';
export { scoreCapture, type CaptureScore, type FaultScore, type ReceivedFrame, type ScoreOptions } from './frame-score.js';
export type { SentFrame, FrameFault } from './sent-frames.js';
export { PROFILE_NAMES, type ProfileName } from './profiles/index.js';
export { decodeAccessUnitStamp } from './annex-b.js';
