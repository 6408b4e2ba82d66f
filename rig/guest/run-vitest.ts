/**
 * Runs vitest test files inside the guest, where the project's tree is read-only: no config file is loaded (the
 * project's vitest.config.ts would make Vite bundle it next to itself), and every cache goes to /tmp.
 *
 *   node run-vitest.js [--name <test name regexp>] [--results <file.json>] <project-relative test file>...
 *
 * The verbose reporter prints every test by name with its outcome; --results writes each test's full name and
 * state ('pass', 'fail', 'skip') with its errors, so a check can judge which ran, which failed and which were
 * skipped (a skip it did not expect is a failure). The exit status is non-zero when a test failed, none ran, or
 * vitest itself failed.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startVitest } from 'vitest/node';

export interface VitestTestResult {
  name: string;
  state: string;
  errors: string[];
  durationMs: number;
}

interface Task {
  type: string;
  name: string;
  mode?: string;
  tasks?: Task[];
  result?: { state?: string; duration?: number; errors?: { message?: string; stack?: string }[] };
}

function collectTests(task: Task, prefix: string[]): VitestTestResult[] {
  const path = task.type === 'suite' || task.type === 'test' ? [...prefix, task.name] : prefix;
  if (task.type === 'test') {
    const state = task.result?.state ?? (task.mode === 'skip' || task.mode === 'todo' ? 'skip' : 'not run');
    const errors = (task.result?.errors ?? []).map((e) => e.stack ?? e.message ?? String(e));
    return [{ name: path.join(' > '), state, errors, durationMs: task.result?.duration ?? 0 }];
  }
  return (task.tasks ?? []).flatMap((t) => collectTests(t, path));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { name: { type: 'string' }, results: { type: 'string' } }, allowPositionals: true });
  if (positionals.length === 0) throw new Error('usage: run-vitest.js [--name <pattern>] [--results <file>] <test file>...');
  const root = process.env.UVC_RIG_PROJECT ?? process.cwd();
  const vitest = await startVitest(
    'test',
    positionals,
    {
      config: false,
      root,
      include: positionals,
      watch: false,
      cache: false,
      reporters: ['verbose'],
      // One file at a time, in one forked worker: the device under test is one device.
      pool: 'forks',
      maxWorkers: 1,
      fileParallelism: false,
      // Hang guards under emulation, not speed limits.
      testTimeout: 240_000,
      hookTimeout: 120_000,
      ...(values.name !== undefined ? { testNamePattern: values.name } : {}),
    },
    { cacheDir: '/tmp/vite-cache', logLevel: 'warn' },
  );
  await vitest.close();
  const tests = vitest.state.getFiles().flatMap((f) => collectTests(f as unknown as Task, []));
  if (values.results !== undefined) await writeFile(values.results, JSON.stringify(tests, null, 1));
  if (tests.length === 0) console.log('run-vitest: no test ran');
  const failed = tests.filter((t) => t.state === 'fail').length;
  const errors = vitest.state.getUnhandledErrors().length;
  if (errors > 0) console.log(`run-vitest: ${errors} unhandled errors`);
  process.exitCode = tests.length === 0 || failed > 0 || errors > 0 || process.exitCode ? 1 : 0;
}

main().catch((err: unknown) => {
  console.log(`run-vitest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
