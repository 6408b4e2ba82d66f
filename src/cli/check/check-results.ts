/** The verdicts of a `check` run: one row per check, pass / fail / warn / skip, with what was seen. */

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface CheckResult {
  /** What part of the camera: 'descriptors', 'negotiation', 'streaming', 'frame-rate', 'controls', 'cycles', 'unplug'. */
  group: string;
  name: string;
  status: CheckStatus;
  detail: string;
  /** Measurements for machines (--json): frame counts, fps, values read back, … */
  data?: Record<string, unknown>;
}

export class CheckReport {
  readonly results: CheckResult[] = [];

  constructor(private readonly onResult: (result: CheckResult) => void = () => {}) {}

  add(group: string, name: string, status: CheckStatus, detail: string, data?: Record<string, unknown>): CheckResult {
    const result: CheckResult = { group, name, status, detail, ...(data ? { data } : {}) };
    this.results.push(result);
    this.onResult(result);
    return result;
  }

  count(status: CheckStatus): number {
    return this.results.filter((r) => r.status === status).length;
  }

  get passed(): boolean {
    return this.count('fail') === 0 && this.results.length > 0;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `work`, rejecting with ETIMEDOUT-like text when it takes longer than `ms` (a hung camera must not hang the run). */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
