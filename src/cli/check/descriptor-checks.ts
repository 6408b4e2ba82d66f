/** Descriptor sanity: what the parser had to work around, and the facts every UVC camera must state. */
import type { Camera } from '../../camera/index.js';
import type { CheckReport } from './check-results.js';

export function checkDescriptors(camera: Camera, report: CheckReport): void {
  const d = camera.descriptors;
  const warnings = d.warnings;
  report.add(
    'descriptors',
    'descriptors parse cleanly',
    warnings.length === 0 ? 'pass' : 'fail',
    warnings.length === 0 ? `UVC ${d.uvcVersion}, ${d.streamingInterfaces.length} streaming interface(s), ${d.controls.length} controls declared` : `${warnings.length} problem(s): ${warnings.join('; ')}`,
    { warnings },
  );

  const problems: string[] = [];
  const formats = camera.formats;
  if (formats.length === 0) problems.push('no video capture format with frames');
  for (const vs of d.streamingInterfaces) {
    if (vs.direction !== 'in') continue;
    for (const format of vs.formats) {
      const where = `interface ${vs.interfaceNumber} format ${format.index} (${format.fourcc ?? format.kind})`;
      if (format.frames.length === 0) problems.push(`${where} has no frame descriptors`);
      if (format.declaredFrameCount !== format.frames.length) problems.push(`${where} declares ${format.declaredFrameCount} frames, has ${format.frames.length}`);
      if (format.frames.length > 0 && !format.frames.some((f) => f.index === format.defaultFrameIndex)) {
        problems.push(`${where}: bDefaultFrameIndex ${format.defaultFrameIndex} names no frame`);
      }
      for (const frame of format.frames) {
        const at = `${where} ${frame.width}x${frame.height}`;
        if (frame.width === 0 || frame.height === 0) problems.push(`${at}: zero size`);
        const intervals = frame.intervals;
        if (Array.isArray(intervals)) {
          if (intervals.length === 0) problems.push(`${at}: no frame intervals`);
          if (intervals.some((i) => i <= 0)) problems.push(`${at}: a zero frame interval`);
          if (!intervals.includes(frame.defaultInterval)) problems.push(`${at}: default interval ${frame.defaultInterval} is not among its intervals`);
        } else if (intervals.min <= 0 || intervals.min > intervals.max || intervals.step <= 0) {
          problems.push(`${at}: bad continuous interval range ${intervals.min}…${intervals.max} step ${intervals.step}`);
        }
      }
    }
    if (vs.transferType === 'isochronous' && !vs.altSettings.some((a) => a.alternateSetting > 0)) {
      problems.push(`interface ${vs.interfaceNumber} streams iso but has no alternate setting with an endpoint`);
    }
  }
  report.add(
    'descriptors',
    'formats and frames are consistent',
    problems.length === 0 ? 'pass' : 'fail',
    problems.length === 0 ? `${formats.length} format(s), ${formats.reduce((n, f) => n + f.frames.length, 0)} frame size(s)` : problems.join('; '),
  );
}
