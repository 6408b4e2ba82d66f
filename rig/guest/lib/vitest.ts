/**
 * Project test files run by vitest inside the guest (guest/run-vitest.ts in a child process), judged by their
 * per-test results: every test must pass, except the ones a check expects to be skipped on its device, which
 * must be skipped (so neither a failure nor an unexpected skip goes unnoticed).
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { VitestTestResult } from '../run-vitest.js';
import type { CheckContext } from './check.js';

const RUN_VITEST = fileURLToPath(new URL('../run-vitest.js', import.meta.url));

export interface VitestRun {
  code: number | null;
  tests: VitestTestResult[];
  seconds: number;
}

/** Runs `files` (project-relative) with `env` added; streams vitest's output into the check's log. */
export async function runVitest(ctx: CheckContext, label: string, files: string[], env: Record<string, string>, timeoutMs: number): Promise<VitestRun> {
  const results = `/tmp/vitest-${label}-${process.pid}.json`;
  const t0 = performance.now();
  const child = spawn(process.execPath, [RUN_VITEST, '--results', results, ...files], {
    cwd: ctx.projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') console.log(`  [${label}] ${line}`);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  let tests: VitestTestResult[] = [];
  try {
    tests = JSON.parse(await readFile(results, 'utf8')) as VitestTestResult[];
  } catch {
    // no results: vitest never got that far (the exit code says it failed)
  }
  await rm(results, { force: true });
  return { code, tests, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Throws unless every test passed but those matching `expectedSkips`, and each of those was skipped. Returns a
 * one-line summary.
 */
export function judgeVitest(label: string, run: VitestRun, expectedSkips: readonly RegExp[] = []): string {
  const problems: string[] = [];
  if (run.tests.length === 0) problems.push(`no test ran (exit ${run.code})`);
  for (const t of run.tests) {
    const skipExpected = expectedSkips.some((re) => re.test(t.name));
    if (t.state === 'fail') problems.push(`FAILED: ${t.name}: ${t.errors.map((e) => e.split('\n').slice(0, 6).join(' | ')).join(' // ')}`);
    else if (t.state === 'skip' && !skipExpected) problems.push(`skipped unexpectedly: ${t.name}`);
    else if (t.state !== 'pass' && t.state !== 'skip') problems.push(`${t.state}: ${t.name}`);
    else if (t.state === 'pass' && skipExpected) problems.push(`expected to be skipped on this device, but ran: ${t.name}`);
  }
  for (const re of expectedSkips) if (!run.tests.some((t) => re.test(t.name))) problems.push(`no test matches the expected skip ${re}`);
  if (run.code !== 0 && problems.length === 0) problems.push(`vitest exited ${run.code}`);
  const passed = run.tests.filter((t) => t.state === 'pass').length;
  const skipped = run.tests.filter((t) => t.state === 'skip').length;
  const summary = `${label}: ${run.tests.length} tests, ${passed} passed, ${skipped} skipped as expected, in ${run.seconds.toFixed(1)} s`;
  if (problems.length > 0) throw new Error(`${label}: ${problems.join('\n  ')}`);
  return summary;
}
