/**
 * Start/stop cycles, and the queue rules a driver must keep around them (videobuf2's): frames come after every
 * streamon, a streamoff wakes a waiting dqbuf with EINVAL, a second streamoff is harmless, dqbuf without streaming
 * is EINVAL.
 */
import { isUvcError } from '../../errors.js';
import type { Camera } from '../../camera/index.js';
import { errorText, within, type CheckReport } from './check-results.js';

export async function checkStreamCycles(camera: Camera, cycles: number, report: CheckReport): Promise<void> {
  await camera.setFormat({}).catch(() => undefined);
  const queue = camera.queue;
  const timeoutMs = Math.max(3000, (3 * 1000) / Math.max(1, camera.format?.fps ?? 1) + 2000);
  const sequences: number[][] = [];
  const problems: string[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    try {
      const count = queue.reqbufs(4);
      for (let i = 0; i < count; i++) queue.qbuf(i);
      await within(5000, 'streamon', queue.streamon());
      const seen: number[] = [];
      for await (const buffer of queue.frames({ timeoutMs })) {
        seen.push(buffer.sequence);
        if (seen.length === 2) break;
      }
      if (seen.length < 2) throw new Error(`streaming ended after ${seen.length} frame(s)`);
      sequences.push(seen);
      await within(5000, 'streamoff', queue.streamoff());
      queue.reqbufs(0);
    } catch (error) {
      problems.push(`cycle ${cycle}: ${errorText(error)}`);
      await queue.streamoff().catch(() => undefined);
      try {
        queue.reqbufs(0);
      } catch {
        // reported above
      }
    }
  }
  report.add(
    'cycles',
    `streamon/streamoff × ${cycles}`,
    problems.length === 0 ? 'pass' : 'fail',
    problems.length === 0 ? `frames after every streamon (sequences ${sequences.map((s) => s.join(',')).join(' | ')})` : problems.join('; '),
  );

  // A dqbuf waiting when streaming stops must wake with EINVAL, not hang.
  try {
    const count = queue.reqbufs(2);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await within(5000, 'streamon', queue.streamon());
    const first = await queue.dqbuf({ timeoutMs });
    // Hold every buffer so the next dqbuf must wait.
    const second = await queue.dqbuf({ timeoutMs });
    void first;
    void second;
    const waiting = queue.dqbuf().then(
      () => 'a buffer',
      (error: unknown) => (isUvcError(error) ? error.code : errorText(error)),
    );
    await within(5000, 'streamoff', queue.streamoff());
    const outcome = await within(1000, 'the waiting dqbuf', waiting);
    let again = 'ok';
    await queue.streamoff().catch((error: unknown) => (again = errorText(error)));
    const idle = await queue.dqbuf({ nonblock: true }).then(
      () => 'a buffer',
      (error: unknown) => (isUvcError(error) ? error.code : errorText(error)),
    );
    queue.reqbufs(0);
    const ok = outcome === 'EINVAL' && again === 'ok' && idle === 'EINVAL';
    report.add(
      'cycles',
      'streamoff wakes waiters',
      ok ? 'pass' : 'fail',
      `waiting dqbuf → ${outcome}${outcome === 'EINVAL' ? '' : ' (expected EINVAL)'}; second streamoff → ${again}; dqbuf when stopped → ${idle}${idle === 'EINVAL' ? '' : ' (expected EINVAL)'}`,
    );
  } catch (error) {
    await queue.streamoff().catch(() => undefined);
    report.add('cycles', 'streamoff wakes waiters', 'fail', errorText(error));
  }
}
