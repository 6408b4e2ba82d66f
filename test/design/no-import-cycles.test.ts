/**
 * The data path in the folders (brief, "How we want the code"): transport → UVC protocol → frame assembly → queue
 * → camera API → CLI, one way, and the virtual camera knows nothing of the driver. Each folder's README says what
 * it may import; this test holds the code to it, and holds every file to having no import cycle.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph, SRC, sourceFiles, unitOf } from './source-graph.js';

/**
 * What each folder (and root file) of src/ may import besides itself, as src-relative prefixes. A prefix that is a
 * file allows that file only: the virtual camera and USB/IP see the wire contract (device-model.ts), not the host.
 */
const MAY_IMPORT: Record<string, string[]> = {
  'errors.ts': [],
  'random.ts': [],
  spec: [],
  media: ['errors.ts'],
  transport: ['spec', 'errors.ts'],
  usbip: ['transport/device-model.ts', 'spec', 'errors.ts'],
  'virtual-camera': ['transport/device-model.ts', 'spec', 'errors.ts', 'random.ts'],
  uvc: ['transport/usb-transport.ts', 'transport/periodic-budget.ts', 'spec', 'errors.ts'],
  queue: ['errors.ts'],
  stream: ['transport/usb-transport.ts', 'queue', 'spec', 'errors.ts'],
  camera: ['transport', 'uvc', 'stream', 'queue', 'spec', 'errors.ts'],
  'index.ts': ['camera', 'transport', 'uvc', 'stream', 'queue', 'usbip', 'virtual-camera', 'spec', 'errors.ts'],
  cli: ['index.ts', 'camera', 'transport', 'uvc', 'media', 'usbip', 'virtual-camera', 'errors.ts'],
};

function allowed(from: string, to: string): boolean {
  const unit = unitOf(from);
  if (unitOf(to) === unit) return true;
  return (MAY_IMPORT[unit] ?? []).some((prefix) => to === prefix || to.startsWith(`${prefix}/`));
}

describe('the source tree', () => {
  const graph = importGraph();

  it('is read whole: every src file is seen, and every relative import resolves to a src file', () => {
    expect(graph.size).toBe(sourceFiles().length);
    expect(graph.size).toBeGreaterThan(100);
    const unresolved = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${file} → ${t}`));
    expect(unresolved).toEqual([]);
  });

  it('has no import cycle between files (type-only imports included)', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('the cycle finder finds a cycle (so the check above can fail)', () => {
    const looped = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(importCycles(looped)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('every folder and root file is in the table, and the table is one way (no unit may import one that may import it)', () => {
    const units = new Set([...graph.keys()].map(unitOf));
    expect([...units].filter((unit) => !(unit in MAY_IMPORT))).toEqual([]);
    const unitGraph = new Map(Object.entries(MAY_IMPORT).map(([unit, prefixes]) => [unit, prefixes.map((p) => unitOf(p))]));
    expect(importCycles(unitGraph)).toEqual([]);
  });

  it('imports only what each folder may import: data flows one way, the virtual camera knows nothing of the driver', () => {
    const breaches = [...graph].flatMap(([file, targets]) => targets.filter((t) => !allowed(file, t)).map((t) => `${file} → ${t}`));
    expect(breaches).toEqual([]);
  });

  it("each folder's README says what lives there and names every folder it may import", () => {
    const problems: string[] = [];
    for (const [unit, prefixes] of Object.entries(MAY_IMPORT)) {
      if (unit.endsWith('.ts')) continue;
      const path = join(SRC, unit, 'README.md');
      if (!existsSync(path)) {
        problems.push(`src/${unit}/README.md is missing`);
        continue;
      }
      const text = readFileSync(path, 'utf8');
      if (!/^(May import|Imports)\b/im.test(text)) problems.push(`src/${unit}/README.md has no "May import:" line`);
      for (const prefix of prefixes) {
        const name = prefix.replace(/\.ts$/, '');
        if (!text.includes(`../${name}`)) problems.push(`src/${unit}/README.md does not name ../${name}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
