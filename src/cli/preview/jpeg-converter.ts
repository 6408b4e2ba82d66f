/** Runs frameToJpeg in a worker thread (jpeg-worker.ts), one frame at a time; MJPEG frames need no worker. */
import { Worker } from 'node:worker_threads';
import { frameToJpeg, type FrameGeometry } from '../../media/index.js';
import type { JpegJob, JpegReply } from './jpeg-worker.js';

export class JpegConverter {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (jpeg: Uint8Array) => void; reject: (error: Error) => void }>();

  async convert(data: Uint8Array, geometry: FrameGeometry, quality = 85): Promise<Uint8Array> {
    if (geometry.layout === 'mjpeg') return frameToJpeg(data, geometry, quality);
    const worker = this.start();
    const id = this.nextId++;
    const job: JpegJob = { id, data, geometry, quality };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // The frame is a copy made for this job: hand its memory over instead of copying it again.
      worker.postMessage(job, data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
    for (const { reject } of this.waiting.values()) reject(new Error('the converter was closed'));
    this.waiting.clear();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./jpeg-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (reply: JpegReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('error' in reply) waiter.reject(new Error(reply.error));
      else waiter.resolve(reply.jpeg);
    });
    worker.on('error', (error) => {
      for (const { reject } of this.waiting.values()) reject(error);
      this.waiting.clear();
      this.worker = null;
    });
    this.worker = worker;
    return worker;
  }
}
