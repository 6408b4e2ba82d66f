/** The streaming core: payload headers, frame assembly, clock recovery, transfer sizing, the video stream. */
export { VideoStream } from './video-stream.js';
export type { VideoStreamConfig, VideoStreamOptions, VideoStreamSink } from './video-stream.js';
export { FrameAssembler, containsIdrSlice } from './frame-assembler.js';
export type { AssemblerStats, BusKind, FidMode, FrameAssemblerOptions, FrameSink, SofMode, VideoFormatKind } from './frame-assembler.js';
export type { TimestampStats } from './frame-timing.js';
export type { ClockRecoveryStats } from './clock-recovery.js';
export type { FrameTimestampStats } from './frame-timestamps.js';
export { ClockRecovery } from './clock-recovery.js';
export type { ClockRecoveryOptions } from './clock-recovery.js';
export { planTransfers, streamOptionsFor, bulkTransferSize, busIntervalNs } from './transfer-sizing.js';
export type { TransferPlan, TransferSizingInput } from './transfer-sizing.js';
export { checkPayloadHeader, parsePayloadHeader, describeHeaderProblem, HeaderProblem } from './payload-header.js';
export type { PayloadHeaderFields } from './payload-header.js';
