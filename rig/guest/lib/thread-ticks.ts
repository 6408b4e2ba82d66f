/**
 * CPU ticks (user + system, in clock ticks) of each thread of this process, summed by name. The main thread is
 * reported as 'main' on its own: Node's other threads (V8's platform workers: the concurrent compiler and the
 * garbage collector's helpers) carry the process's name 'node' too, so a sum by name alone would charge their
 * work to JavaScript.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const TICK_S = 0.01;

export function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  const main = String(process.pid);
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = tid === main ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** CPU seconds of each thread (as threadTicks names them) since `before`, leaving out those under 5 ms. */
export function threadSecondsSince(before: Map<string, number>): Record<string, number> {
  const threads: Record<string, number> = {};
  for (const [name, ticks] of threadTicks()) {
    const seconds = (ticks - (before.get(name) ?? 0)) * TICK_S;
    if (seconds > 0.005) threads[name] = Number(seconds.toFixed(2));
  }
  return threads;
}
