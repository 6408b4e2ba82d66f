/**
 * What `uvc-capture capture` is asked to do and why a capture ends: shared by the one-camera capture
 * (commands/capture.ts) and the several-camera one (multi-capture.ts), which the former hands over to, so that
 * neither has to import the other's words.
 */
import type { FrameSizeArgument } from './arguments.js';
import type { CameraFlags } from './camera-selection.js';

export interface CaptureFlags extends CameraFlags {
  frames?: number;
  seconds?: number;
  format?: string;
  size?: FrameSizeArgument;
  fps?: number;
  set?: string[];
  output?: string;
  png?: boolean;
  keepErrored?: boolean;
  dropErrored?: boolean;
  buffers: number;
  json?: boolean;
  quiet?: boolean;
  progress: boolean;
}

/** Why the capture ended; `closed`: the program reading stdout went away (a normal end, exit 0). */
export type StopReason = 'frames' | 'seconds' | 'interrupted' | 'unplugged' | 'closed' | 'error';
