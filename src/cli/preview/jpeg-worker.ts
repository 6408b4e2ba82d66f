/**
 * Worker thread of the preview: turns frames into JPEGs off the main thread, whose event loop must stay free for
 * the USB transfers (a 640×480 YUYV → RGB conversion in JavaScript takes milliseconds the stream cannot spare).
 */
import { parentPort } from 'node:worker_threads';
import { frameToJpeg, type FrameGeometry } from '../../media/index.js';

export interface JpegJob {
  id: number;
  data: Uint8Array;
  geometry: FrameGeometry;
  quality: number;
}

export type JpegReply = { id: number; jpeg: Uint8Array } | { id: number; error: string };

parentPort?.on('message', (job: JpegJob) => {
  frameToJpeg(job.data, job.geometry, job.quality).then(
    (jpeg) => {
      const reply: JpegReply = { id: job.id, jpeg };
      parentPort!.postMessage(reply, [jpeg.buffer as ArrayBuffer]);
    },
    (error: unknown) => {
      const reply: JpegReply = { id: job.id, error: (error as Error).message };
      parentPort!.postMessage(reply);
    },
  );
});
