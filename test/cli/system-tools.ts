/**
 * What some CLI tests need from the system to put the binary where users meet trouble, without changing the
 * machine: a pseudo-terminal of a given width (util-linux `script`), and a private mount namespace (util-linux
 * `unshare -rm`, an unprivileged user namespace) in which a read-only filesystem or a missing /dev/bus/usb can be
 * made for one process. Each says when it cannot be had, so a test can skip with one line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { BIN, ROOT, type CliResult } from './run-cli.js';

function works(command: string, args: string[]): boolean {
  try {
    return spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

/** `script` can give a child a terminal. */
export const HAS_PTY = works('script', ['-qec', 'true', '/dev/null']);
/** `unshare -rm` can make a private mount namespace here (and mount a tmpfs in it). */
export const HAS_NAMESPACES = works('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt']);

/** Single-quotes a word for sh. */
export function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The CLI as a shell command line. */
export function cliCommand(args: readonly string[]): string {
  return [process.execPath, BIN, ...args].map(shellWord).join(' ');
}

/** Runs a shell script and collects what it says (stdout of `script` includes the terminal's output). */
export function runShell(command: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The CLI with a terminal of `columns` columns as its stdout (and stderr): what `script` captured, CRLF undone. */
export async function runInTerminal(args: readonly string[], columns: number): Promise<CliResult> {
  const result = await runShell('script', ['-qec', `stty cols ${columns} rows 50; ${cliCommand(args)}`, '/dev/null']);
  return { ...result, stdout: result.stdout.replace(/\r\n/g, '\n') };
}

/** The CLI inside a private mount namespace, after `setup` (sh commands run there, as the namespace's root). */
export function runInNamespace(setup: string, args: readonly string[]): Promise<CliResult> {
  return runShell('unshare', ['-rm', 'sh', '-c', `${setup} && exec ${cliCommand(args)}`]);
}
