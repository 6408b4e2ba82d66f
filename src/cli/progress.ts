/**
 * The capture progress line on stderr, drawn only when stderr is a terminal (never into logs or pipes). cli-progress
 * does the terminal work: redraw throttling, line width, clearing the line when done.
 */
import cliProgress from 'cli-progress';

export interface ProgressValues {
  frames: number;
  fps: number;
  lost: number;
  errors: number;
}

export interface Progress {
  update(values: ProgressValues, elapsedSeconds: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/** `goal` decides what the bar measures: frames of --frames, seconds of --seconds, or nothing (until Ctrl-C). */
export function startProgress(goal: { frames?: number; seconds?: number }, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return NONE;
  const stats = '{frames} frames | {fps} fps | lost {lost} | errors {errors}';
  const byFrames = goal.frames !== undefined;
  const bySeconds = !byFrames && goal.seconds !== undefined;
  const bar = new cliProgress.SingleBar(
    {
      format: byFrames || bySeconds ? `{bar} {percentage}% | ${stats}` : `capturing (Ctrl-C stops) | ${stats}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = byFrames ? goal.frames! : bySeconds ? Math.round(goal.seconds! * 10) : 1;
  bar.start(total, 0, { frames: 0, fps: '-', lost: 0, errors: 0 });
  return {
    update(values, elapsedSeconds) {
      const value = byFrames ? values.frames : bySeconds ? Math.min(total, Math.round(elapsedSeconds * 10)) : 0;
      bar.update(value, { ...values, fps: values.fps > 0 ? values.fps.toFixed(1) : '-' });
    },
    stop() {
      bar.stop();
    },
  };
}
