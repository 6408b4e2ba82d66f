/**
 * Runs every check of rig/guest/checks/ inside the guest, one process each, in file-name order, and reports each
 * by name: `PASS name (s)` / `FAIL name (s): why`. Between checks it unplugs whatever a failed check left on
 * vhci_hcd, so one failure does not cascade. Writes results.tsv into the shared run directory for the host.
 *
 * Environment: UVC_RIG_RUN (shared dir), UVC_RIG_TOOLS, UVC_RIG_PROJECT, UVC_RIG_CHECKS (optional
 * comma-separated names to run; default all), UVC_RIG_REPEAT (run the whole list N times in this boot, default 1:
 * the stress mode; every run of every check is reported, and one failed run fails the check: nothing is retried).
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { checkName, DEFAULT_CHECK_TIMEOUT_MS } from './lib/check.js';
import { run } from './lib/exec.js';
import { vhciPorts } from './lib/usb-host.js';

const checksDir = fileURLToPath(new URL('./checks/', import.meta.url));
const runCheck = fileURLToPath(new URL('./run-check.js', import.meta.url));
const runDir = process.env.UVC_RIG_RUN ?? '/tmp';
const results = `${runDir}/results.tsv`;
const only = (process.env.UVC_RIG_CHECKS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const repeat = parseRepeat(process.env.UVC_RIG_REPEAT);
/**
 * A check's time limit (and every wait in lib/) is a guard against a hang, not a margin for slowness: under TCG
 * on a machine whose cores are busy the guest runs several times slower than on a quiet one, so declared limits
 * are multiplied by this (default 3).
 */
const timeFactor = Number(process.env.UVC_RIG_TIME_FACTOR ?? '3') || 3;

function parseRepeat(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 1;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`UVC_RIG_REPEAT must be a whole number from 1 to 1000, not '${text}'`);
  return n;
}

interface Outcome {
  name: string;
  passed: boolean;
  seconds: number;
  reason: string;
}

async function runOne(file: string, round: number): Promise<Outcome> {
  const name = repeat > 1 ? `${checkName(file)}#${round}` : checkName(file);
  // Read, not imported: a check's imports (native addons) must not load into the runner.
  const declared = /export const timeoutMs\s*=\s*([\d_]+)/.exec(await readFile(file, 'utf8'))?.[1];
  const timeoutMs = (declared === undefined ? DEFAULT_CHECK_TIMEOUT_MS : Number(declared.replace(/_/g, ''))) * timeFactor;
  const started = performance.now();
  const log: string[] = [];
  console.log(`---- ${name} (limit ${timeoutMs / 1000} s)`);
  // Its own process group: on timeout everything it started (servers, tools) goes too.
  const child = spawn(process.execPath, [runCheck, file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env } });
  const onLine = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      log.push(line);
      console.log(`[${name}] ${line}`);
    }
  };
  child.stdout.on('data', onLine);
  child.stderr.on('data', onLine);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  try {
    process.kill(-child.pid!, 'SIGKILL'); // leftovers of a check that forgot to stop its helpers
  } catch {
    // none
  }
  const seconds = (performance.now() - started) / 1000;
  await writeFile(`${runDir}/logs/${name.replace('#', '.')}.log`, `${log.join('\n')}\n`);
  const reason = timedOut ? `timed out after ${timeoutMs / 1000} s` : code === 0 ? '' : (log.filter((l) => l.includes('ERROR:')).at(-1)?.trim() ?? `exit ${code}`);
  return { name, passed: code === 0 && !timedOut, seconds, reason };
}

/** Unplugs whatever is still attached to vhci_hcd. */
async function cleanVhci(): Promise<void> {
  for (const p of await vhciPorts()) {
    if (p.state === 4) continue;
    console.log(`  (cleanup: detaching vhci port ${p.port} left in state ${p.state})`);
    await run('usbip', ['detach', '-p', String(p.port)], { allowFailure: true, timeoutMs: 20_000 });
  }
}

async function main(): Promise<void> {
  await mkdir(`${runDir}/logs`, { recursive: true });
  await writeFile(results, '');
  const files = (await readdir(checksDir))
    .filter((f) => f.endsWith('.js'))
    .sort()
    .filter((f) => only.length === 0 || only.includes(checkName(f)))
    .map((f) => `${checksDir}${f}`);
  if (files.length === 0) {
    console.log(`no checks to run (UVC_RIG_CHECKS='${only.join(',')}')`);
    process.exit(1);
  }
  const outcomes: Outcome[] = [];
  for (let round = 1; round <= repeat; round++) {
    if (repeat > 1) console.log(`==== round ${round} of ${repeat}`);
    for (const file of files) await runAndReport(file, round, outcomes);
  }
  const failed = outcomes.filter((o) => !o.passed).length;
  if (repeat > 1) {
    // Per check: how many of its runs failed. A check that failed once fails the run.
    for (const file of files) {
      const name = checkName(file);
      const runs = outcomes.filter((o) => o.name.startsWith(`${name}#`));
      const bad = runs.filter((o) => !o.passed).length;
      console.log(`  ${bad === 0 ? 'PASS' : 'FAIL'} ${name}: ${runs.length - bad} of ${runs.length} runs passed`);
    }
  }
  console.log(`guest checks: ${outcomes.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

async function runAndReport(file: string, round: number, outcomes: Outcome[]): Promise<void> {
  const o = await runOne(file, round);
  outcomes.push(o);
  const line = `${o.passed ? 'PASS' : 'FAIL'} ${o.name} (${o.seconds.toFixed(1)} s)${o.passed ? '' : `: ${o.reason}`}`;
  console.log(line);
  await appendFile(results, `${o.passed ? 'PASS' : 'FAIL'}\t${o.name}\t${o.seconds.toFixed(1)}\t${o.reason.replace(/\s+/g, ' ')}\n`);
  if (!o.passed) {
    const dmesg = await run('dmesg', [], { allowFailure: true, timeoutMs: 10_000 }).catch(() => null);
    if (dmesg !== null) console.log(`  kernel log (last lines):\n${dmesg.stdout.trim().split('\n').slice(-25).map((l) => `    ${l}`).join('\n')}`);
  }
  await cleanVhci().catch((err: unknown) => console.log(`  (cleanup failed: ${String(err)})`));
}

main().catch((err: unknown) => {
  console.log(`runner crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(2);
});
