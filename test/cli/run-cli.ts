/**
 * Runs the real `uvc-capture` binary (dist/cli/main.js, built by `npm test`'s pretest) in a child process, as users
 * run it: arguments, exit code, stdout, stderr; or keeps it running for tests that signal it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes, with `binaryStdout`. */
  stdoutBytes?: Uint8Array;
}

function ensureBuilt(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does it first)`);
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Keep stdout as bytes (a frame stream) instead of text. */
  binaryStdout?: boolean;
}

export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, options);
  return child.done;
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** Resolves with stdout once it matches. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly stdout: string;
  readonly stderr: string;
}

export function startCli(args: readonly string[], options: RunOptions = {}): RunningCli {
  ensureBuilt();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const chunks: Buffer[] = [];
  if (options.binaryStdout) child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  else child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timeout);
      const result: CliResult = { code, signal, stdout, stderr };
      if (options.binaryStdout) result.stdoutBytes = new Uint8Array(Buffer.concat(chunks));
      resolve(result);
    });
  });
  const waitFor = (which: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = (): void => {
        const match = which().match(pattern);
        if (match) return resolve(match);
        if (child.exitCode !== null || Date.now() - started > timeoutMs) {
          return reject(new Error(`no ${pattern} in output (exit ${child.exitCode}):\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
        setTimeout(poll, 20);
      };
      poll();
    });
  return {
    child,
    done,
    waitForStdout: (pattern, ms) => waitFor(() => stdout, pattern, ms),
    waitForStderr: (pattern, ms) => waitFor(() => stderr, pattern, ms),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
