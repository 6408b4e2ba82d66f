/**
 * Linux's own V4L2 tools (v4l-utils) run against a /dev/video* node, their output parsed for checks:
 * `v4l2-ctl --list-formats-ext`, `v4l2-ctl --list-ctrls`, `v4l2-ctl --stream-mmap` and `v4l2-compliance`.
 */
import { readFile, rm } from 'node:fs/promises';
import { run } from './exec.js';

/** fourcc → 'WxH' → frame rates as v4l2-ctl prints them ('30.000'). */
export type FormatList = Map<string, Map<string, string[]>>;

export async function listFormats(device: string): Promise<{ text: string; formats: FormatList }> {
  const { stdout } = await run('v4l2-ctl', ['-d', device, '--list-formats-ext'], { timeoutMs: 180_000 });
  const formats: FormatList = new Map();
  let sizes: Map<string, string[]> | undefined;
  let rates: string[] | undefined;
  for (const line of stdout.split('\n')) {
    const format = /^\s*\[\d+\]: '(.{4})'/.exec(line);
    if (format) {
      sizes = new Map();
      formats.set(format[1]!, sizes);
      continue;
    }
    const size = /Size: Discrete (\d+x\d+)/.exec(line);
    if (size && sizes) {
      rates = [];
      sizes.set(size[1]!, rates);
      continue;
    }
    const rate = /Interval: Discrete [\d.]+s \(([\d.]+) fps\)/.exec(line);
    if (rate && rates) rates.push(rate[1]!);
  }
  return { text: stdout, formats };
}

export interface V4l2Control {
  name: string;
  type: string;
  value: number;
  flags: string[];
  min?: number;
  max?: number;
  default?: number;
}

/** `v4l2-ctl --list-ctrls`: every control with its value and flags ('inactive', 'read-only', …). */
export async function listControls(device: string): Promise<V4l2Control[]> {
  const { stdout } = await run('v4l2-ctl', ['-d', device, '--list-ctrls'], { timeoutMs: 180_000 });
  const controls: V4l2Control[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\w+) 0x[0-9a-f]+ \((\w+)\)\s*:(.*)$/.exec(line);
    if (!m) continue;
    const fields = m[3]!;
    const num = (key: string): number | undefined => {
      const f = new RegExp(`\\b${key}=(-?\\d+)`).exec(fields);
      return f ? Number(f[1]) : undefined;
    };
    const control: V4l2Control = { name: m[1]!, type: m[2]!, value: num('value') ?? NaN, flags: /flags=([\w,-]+)/.exec(fields)?.[1]?.split(',') ?? [] };
    for (const key of ['min', 'max', 'default'] as const) {
      const v = num(key);
      if (v !== undefined) control[key] = v;
    }
    controls.push(control);
  }
  return controls;
}

/** `v4l2-ctl --set-ctrl name=value`; resolves with the error text (empty on success). */
export async function setControl(device: string, name: string, value: number): Promise<string> {
  const r = await run('v4l2-ctl', ['-d', device, `--set-ctrl=${name}=${value}`], { allowFailure: true, timeoutMs: 120_000 });
  return r.code === 0 ? '' : `${r.stdout}${r.stderr}`.trim() || `exit ${r.code}`;
}

export interface Capture {
  data: Uint8Array;
  /** v4l2-ctl's per-buffer lines (`cap dqbuf: <index> seq: <sequence> bytesused: <n> …`, on its stderr), in DQBUF order. */
  log: string[];
  seconds: number;
}

/** Captures `count` buffers with mmap streaming (v4l2-ctl --stream-mmap) into memory. */
export async function captureFrames(
  device: string,
  o: { fourcc: string; width: number; height: number; fps?: number; count: number; timeoutMs: number },
): Promise<Capture> {
  const file = `/tmp/capture-${process.pid}-${o.fourcc}.raw`;
  const args = ['-d', device, `--set-fmt-video=width=${o.width},height=${o.height},pixelformat=${o.fourcc}`];
  if (o.fps !== undefined) args.push(`--set-parm=${o.fps}`);
  args.push('--stream-mmap', `--stream-count=${o.count}`, `--stream-to=${file}`, '--verbose');
  const t0 = performance.now();
  try {
    const r = await run('v4l2-ctl', args, { timeoutMs: o.timeoutMs });
    const data = new Uint8Array(await readFile(file));
    return { data, log: `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('dqbuf:')), seconds: (performance.now() - t0) / 1000 };
  } finally {
    await rm(file, { force: true });
  }
}

/** The V4L2 sequence numbers of the buffers v4l2-ctl wrote to its file (not empty, not flagged error), in DQBUF order. */
export function writtenSequences(log: readonly string[]): number[] {
  const sequences: number[] = [];
  for (const line of log) {
    const m = /dqbuf:\s*\d+\s+seq:\s*(\d+)\s+bytesused:\s*(\d+)/.exec(line);
    if (m === null || Number(m[2]) === 0 || /error/i.test(line)) continue;
    sequences.push(Number(m[1]));
  }
  return sequences;
}

export interface ComplianceResult {
  output: string;
  /** `Total for uvcvideo device /dev/video0: 46, Succeeded: 44, Failed: 2, Warnings: 1` */
  summary: string;
  total: number;
  succeeded: number;
  failed: number;
  warnings: number;
  /** Each failed test, its `fail:` lines, and (with -v) the last control it was checking. */
  failures: { test: string; reasons: string[]; lastChecked?: string }[];
  warningLines: string[];
}

/** `v4l2-compliance -v -d DEVICE`; the exit status is its failure count, so it is read from the summary. */
export async function runCompliance(device: string, extra: string[] = [], timeoutMs = 900_000): Promise<ComplianceResult> {
  const r = await run('v4l2-compliance', ['-v', '-d', device, ...extra], { allowFailure: true, timeoutMs });
  const output = `${r.stdout}${r.stderr}`;
  const lines = output.split('\n');
  const summary = lines.find((l) => /Total for .* device/.test(l))?.trim();
  if (summary === undefined) throw new Error(`v4l2-compliance printed no summary (exit ${r.code}):\n${output}`);
  const m = /: (\d+), Succeeded: (\d+), Failed: (\d+), Warnings: (\d+)/.exec(summary);
  if (!m) throw new Error(`cannot read the v4l2-compliance summary: ${summary}`);
  const failures: ComplianceResult['failures'] = [];
  let reasons: string[] = [];
  let lastChecked: string | undefined;
  for (const line of lines) {
    const checking = /info: checking (?:extended )?control '([^']+)'/.exec(line);
    if (checking) lastChecked = checking[1];
    if (/^\s*fail: /.test(line)) reasons.push(line.trim());
    const test = /^\s*test (.+): (OK|FAIL)/.exec(line);
    if (test) {
      if (test[2] === 'FAIL') failures.push({ test: test[1]!, reasons, ...(lastChecked !== undefined ? { lastChecked } : {}) });
      reasons = [];
      lastChecked = undefined;
    }
  }
  return {
    output,
    summary,
    total: Number(m[1]),
    succeeded: Number(m[2]),
    failed: Number(m[3]),
    warnings: Number(m[4]),
    failures,
    warningLines: lines.filter((l) => /^\s*warn: /.test(l)).map((l) => l.trim()),
  };
}
