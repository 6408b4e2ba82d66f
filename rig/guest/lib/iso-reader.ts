/** Runs rig/tools/iso-reader (libusb iso IN with per-packet verification) and reads its key=value report. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface IsoReaderOptions {
  toolsDir: string;
  alt: number;
  transfers?: number;
  packets?: number;
  count?: number;
  cancelAfter?: number;
  untilGone?: number;
  /** Called for each output line (the check logs them). */
  onLine?: (line: string) => void;
}

export interface IsoReaderRun {
  /** Resolves when the tool printed STREAMING (data is flowing). */
  streaming: Promise<void>;
  /** Resolves with the parsed report when the tool exits. */
  done: Promise<IsoReport>;
  /**
   * With untilGone: tells the tool the unplug begins now (SIGUSR1), before the caller starts it. A signal is
   * delivered before the tool next runs, so no completion caused by the unplug can be seen before the mark.
   */
  markUnplug(): void;
}

export interface IsoReport {
  ok: boolean;
  result: string;
  exitCode: number | null;
  values: Record<string, number>;
  lines: string[];
}

export function startIsoReader(o: IsoReaderOptions): IsoReaderRun {
  const args = ['--alt', String(o.alt), '--transfers', String(o.transfers ?? 4), '--packets', String(o.packets ?? 32)];
  if (o.count !== undefined) args.push('--count', String(o.count));
  if (o.cancelAfter !== undefined) args.push('--cancel-after', String(o.cancelAfter));
  if (o.untilGone !== undefined) args.push('--until-gone', String(o.untilGone));
  const child = spawn(`${o.toolsDir}/iso-reader`, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let onStreaming: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (onStreaming = resolve));
  const handle = (line: string): void => {
    lines.push(line);
    o.onLine?.(line);
    if (line === 'STREAMING') onStreaming();
  };
  createInterface({ input: child.stdout }).on('line', handle);
  createInterface({ input: child.stderr }).on('line', (l) => handle(`stderr: ${l}`));
  const done = new Promise<IsoReport>((resolve) => {
    child.on('close', (exitCode) => {
      const values: Record<string, number> = {};
      for (const line of lines) {
        for (const m of line.matchAll(/(\w+)=(-?[\d.]+)/g)) values[m[1]!] = Number(m[2]);
      }
      const result = lines.find((l) => l.startsWith('RESULT ')) ?? 'RESULT fail (no result line)';
      resolve({ ok: exitCode === 0 && result === 'RESULT ok', result, exitCode, values, lines });
    });
  });
  return { streaming, done, markUnplug: () => void child.kill('SIGUSR1') };
}
