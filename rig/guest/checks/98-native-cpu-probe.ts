/**
 * Where native-cpu's CPU goes, by experiment (issue 15.3): our driver (rig/guest/probe-driver.ts, native-cpu's
 * `ours` loop in a process of its own) under V8 flags that change one thing each (the GC's helper threads, the
 * young generation's size, the optimizing compiler), with V8's GC and compiler traces counted over the window, a
 * sampling heap profile (who allocates), the clock reads' and wake-ups' native stacks (strace -k); the addon alone
 * with and without spare transfers; the bare C reader alone and with a busy loop on the other CPU (does a second
 * busy CPU alone raise a thread's system time under TCG?). Each as a ratio to the reader's median of the same round.
 * A diagnostic, not a test: only runs when rig/.probe exists (an empty file), and fails only if a run fails.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CAMERA_PID, CAMERA_VID } from '../lib/camera-helpers.js';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { cameraServerPid, ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 2_400_000;
const FRAMES = 300;
const ROUNDS = Number(process.env.UVC_PROBE_ROUNDS ?? 1);

interface Variant {
  name: string;
  mode: 'ours' | 'addon' | 'reader' | 'reader+spin';
  flags?: string[];
  env?: Record<string, string>;
  frames?: number;
  /** reader: under perf record (its report printed). */
  perf?: boolean;
  /** Once, in round 1 only (traces and profiles: their CPU figures mean little). */
  once?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'reader', mode: 'reader' },
  { name: 'reader perf', mode: 'reader', perf: true, once: true },
  { name: 'addon perf', mode: 'addon', env: { PROBE_PERF: 'perf' }, once: true },
  { name: 'ours perf', mode: 'ours', env: { PROBE_PERF: 'perf', PROBE_WARMUP: '600' }, once: true },
  { name: 'ours warm-up 600', mode: 'ours', env: { PROBE_WARMUP: '600' } },
  { name: 'ours warm-up 600, copying', mode: 'ours', env: { PROBE_WARMUP: '600', UVC_USBFS_ZERO_COPY: '0' } },
  { name: 'ours --single-threaded-gc', mode: 'ours', flags: ['--single-threaded-gc'] },
  { name: 'ours --trace-opt --trace-deopt', mode: 'ours', flags: ['--trace-opt', '--trace-deopt'], once: true },
  { name: 'ours heap sampling', mode: 'ours', env: { PROBE_HEAP: 'heap' }, once: true },
  { name: 'ours strace -k', mode: 'ours', env: { PROBE_STRACE: 'strace' }, frames: 60, once: true },
  { name: 'addon spares 63', mode: 'addon', env: { PROBE_SPARES: '63' } },
  { name: 'addon spares 0', mode: 'addon', env: { PROBE_SPARES: '0' } },
  { name: 'reader + busy loop', mode: 'reader+spin' },
  { name: 'ours --no-opt', mode: 'ours', flags: ['--no-opt'] },
];

async function reader(ctx: CheckContext, server: number, spin: boolean, perf = false): Promise<{ ms: number; line: string; extra: string }> {
  const spinner = spin ? spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }) : undefined;
  const data = `/tmp/probe-reader.perf`;
  try {
    const args = ['--frames', String(FRAMES), '--transfers', '25', '--packets', '32', '--exclude-pid', String(server)];
    const r = perf
      ? await run('/usr/bin/perf', ['record', '-e', 'cpu-clock', '-F', '999', '-o', data, '--', `${ctx.toolsDir}/uvc-count`, ...args], { timeoutMs: 600_000 })
      : await run(`${ctx.toolsDir}/uvc-count`, args, { timeoutMs: 600_000 });
    assert(r.stdout.includes('RESULT ok'), r.stdout + r.stderr);
    const cpu = Number(/cpu_s=([\d.]+)/.exec(r.stdout)![1]);
    const frames = Number(/frames=(\d+)/.exec(r.stdout)![1]);
    const line = /cpu_s=\S+ user_s=\S+ sys_s=\S+/.exec(r.stdout)![0];
    return { ms: (cpu / frames) * 1000, line, extra: perf ? await perfSummary(data) : '' };
  } finally {
    spinner?.kill('SIGKILL');
  }
}

/** GC and compiler trace lines inside the window, by kind. */
function traceSummary(out: string): string {
  const begin = out.indexOf('PROBE window begin');
  const end = out.indexOf('PROBE window end');
  if (begin < 0 || end < 0) return '';
  const lines = out.slice(begin, end).split('\n').slice(1).filter((l) => l.trim() !== '');
  const kinds = new Map<string, number>();
  const examples = new Map<string, string[]>();
  for (const line of lines) {
    const m = /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|completed optimizing|compiling method|marking|bailout|deoptimiz\w*|optimizing)/i.exec(line);
    const kind = m?.[1] ?? line.replace(/\d+/g, '#').slice(0, 40);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const ex = examples.get(kind) ?? [];
    if (ex.length < 4) ex.push(line.trim().slice(0, 220));
    examples.set(kind, ex);
  }
  return [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `\n    ${n} × ${k}: ${examples.get(k)!.join(' ‖ ')}`).join('');
}

/** Self size by allocating function (top 20) of a sampling heap profile. */
function heapSummary(path: string): string {
  interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { head: Node; samples: { size: number; nodeId: number }[] };
  const self = new Map<string, number>();
  const stackOf = new Map<string, string>();
  let total = 0;
  const walk = (node: Node, stack: string[]): void => {
    const name = `${node.callFrame.functionName || '(anon)'} ${node.callFrame.url.split('/').at(-1)}:${node.callFrame.lineNumber + 1}`;
    const here = [...stack, name];
    if (node.selfSize > 0) {
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
      if (!stackOf.has(name)) stackOf.set(name, here.slice(-5).join(' < ').replace(/ < /g, ' ← ').split(' ← ').reverse().join(' ← '));
      total += node.selfSize;
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, []);
  return `total sampled ${(total / 1e6).toFixed(1)} MB${[...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([k, b]) => `\n    ${(b / 1e6).toFixed(2)} MB ${k}   [${stackOf.get(k)}]`)
    .join('')}`;
}

/** perf report of a cpu-clock recording: by thread and symbol. */
async function perfSummary(path: string): Promise<string> {
  const r = await run('/usr/bin/perf', ['report', '-i', path, '--stdio', '--no-children', '--sort', 'pid,sym', '--percent-limit', '0.4'], { timeoutMs: 300_000, allowFailure: true });
  rmSync(path, { force: true });
  return `\n${r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).slice(0, 90).map((l) => `    ${l}`).join('\n')}\n    (perf report exit ${r.code}, ${r.stdout.length} B out; ${r.stderr.slice(0, 600)})`;
}

/** strace -f -k: per thread, each system call with its first native frames outside libc, counted. */
function straceSummary(path: string, tids: Record<string, string>, frames: number): string {
  const counts = new Map<string, number>();
  let current: { key: string; stack: string[] } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const key = `${current.key} ← ${current.stack.slice(0, 4).join(' ← ')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    current = undefined;
  };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith(' > ')) {
      if (current === undefined) continue;
      const sym = /\(([^)+]+)/.exec(line)?.[1] ?? line.replace(/.*\//, '').slice(0, 30);
      if (/^(clock_gettime|__clock_gettime|__vdso|syscall|__GI_|pthread_cond|__futex|__lll|___pthread|futex_|__pthread|write|__libc_write|_IO)/.test(sym)) continue;
      current.stack.push(sym);
      continue;
    }
    flush();
    const m = /^(\d+)\s+([a-z_0-9]+)\(/.exec(line);
    if (m === null) continue;
    current = { key: `${tids[m[1]!] ?? m[1]} ${m[2]}`, stack: [] };
  }
  flush();
  rmSync(path, { force: true });
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, n]) => `\n    ${(n / frames).toFixed(2)}/frame ${k}`).join('');
}

async function ours(ctx: CheckContext, v: Variant, round: number): Promise<{ ms: number; line: string; extra: string }> {
  const project = process.env.UVC_RIG_PROJECT!;
  const driver = new URL('../probe-driver.js', import.meta.url).pathname;
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  for (const [k, val] of Object.entries(v.env ?? {})) env[k] = k === 'PROBE_HEAP' ? `${ctx.runDir}/probe-heap-${round}.heapprofile` : k === 'PROBE_STRACE' || k === 'PROBE_PERF' ? `/tmp/probe-${val}-${round}` : val;
  const frames = v.frames ?? FRAMES;
  const child = spawn(process.execPath, [...(v.flags ?? []), driver, project, String(CAMERA_VID), String(CAMERA_PID), String(frames), v.mode], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert(code === 0, `${v.name}: exit ${code}: ${out.slice(-2000)}${err.slice(-2000)}`);
  const last = out.trim().split('\n').filter((l) => l.startsWith('{"mode"')).at(-1)!;
  const r = JSON.parse(last) as { processS: number; frames: number; tids?: Record<string, string> };
  let extra = '';
  if (v.flags?.some((f) => f.startsWith('--trace'))) extra = traceSummary(out);
  if (v.env?.PROBE_HEAP) extra = heapSummary(env.PROBE_HEAP!);
  if (v.env?.PROBE_PERF) extra = await perfSummary(env.PROBE_PERF!);
  if (v.env?.PROBE_STRACE) extra = straceSummary(env.PROBE_STRACE!, r.tids ?? {}, r.frames);
  const { tids: _tids, ...shown } = r as Record<string, unknown>;
  return { ms: (r.processS / r.frames) * 1000, line: JSON.stringify(shown), extra };
}

export default async function check(ctx: CheckContext): Promise<void> {
  const project = process.env.UVC_RIG_PROJECT!;
  if (!existsSync(`${project}/rig/.probe`)) {
    ctx.log('no rig/.probe: nothing to do (see the header of this check)');
    return;
  }
  writeFileSync('/proc/sys/kernel/kptr_restrict', '0'); // perf: kernel symbols
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast' }, label: 'camera' });
  let port: number | undefined;
  const ratios = new Map<string, number[]>();
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const server = cameraServerPid();
    for (let round = 1; round <= ROUNDS; round++) {
      const ms = new Map<string, number>();
      const readers: number[] = [];
      const variants = VARIANTS.filter((v) => round === 1 || !v.once);
      for (const v of [...variants, VARIANTS[0]!]) {
        const t = v.mode === 'reader' || v.mode === 'reader+spin' ? await reader(ctx, server, v.mode === 'reader+spin', v.perf) : await ours(ctx, v, round);
        ctx.log(`round ${round} ${v.name}: ${t.ms.toFixed(2)} ms/frame ${t.line}${t.extra}`);
        if (v.mode === 'reader' && !v.perf) readers.push(t.ms);
        else ms.set(v.name, t.ms);
        await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
      }
      const base = readers.reduce((a, b) => a + b, 0) / readers.length;
      ctx.log(`round ${round}: reader ${readers.map((r) => r.toFixed(2)).join(' / ')} ms/frame; ${[...ms].map(([n, m]) => `${n} ${(m / base).toFixed(2)} x`).join(', ')}`);
      for (const [n, m] of ms) ratios.set(n, [...(ratios.get(n) ?? []), m / base]);
    }
    ctx.log(`ratios: ${[...ratios].map(([n, a]) => `${n} ${a.map((x) => x.toFixed(2)).join(' · ')}`).join('; ')}`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
