/** The vb2-style buffer queue: the core (driver side), the user handle, the buffers. */
export { BufferQueue } from './buffer-queue.js';
export type { BufferQueueOptions, CompletedFrame, DqbufOptions, DriverPhase, QbufOptions, QueueDriver } from './buffer-queue.js';
export { QueueHandle } from './queue-handle.js';
export type { FramesOptions } from './queue-handle.js';
export { VideoBuffer } from './video-buffer.js';
export type { BufferFlags, BufferState } from './video-buffer.js';
