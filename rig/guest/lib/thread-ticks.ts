/**
 * CPU ticks (user and system, in clock ticks) and page faults of each thread of this process, summed by name, read
 * from /proc/self/task in one place for every rig CPU check and driver. The main thread is
 * reported as 'main' on its own: Node's other threads (V8's platform workers: the concurrent compiler and the
 * garbage collector's helpers) carry the process's name 'node' too, so a sum by name alone would charge their
 * work to JavaScript.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat and /proc/<pid>/stat count CPU time in 1/100 s. */
export const TICK_S = 0.01;

/** One thread name's CPU: user and system ticks, and page faults (minor + major: page faults are system time too). */
export interface ThreadCpu {
  user: number;
  system: number;
  faults: number;
}

/** Each thread's CPU ticks and page faults, summed by name ('main' for the main thread, see above). */
export function threadCpu(): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  const main = String(process.pid);
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = tid === main ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const sum = out.get(name) ?? { user: 0, system: 0, faults: 0 };
      sum.user += Number(fields[11]);
      sum.system += Number(fields[12]);
      sum.faults += Number(fields[7]) + Number(fields[9]);
      out.set(name, sum);
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** Each thread's CPU ticks (user + system), summed by name. */
export function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, cpu] of threadCpu()) out.set(name, cpu.user + cpu.system);
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
