/**
 * Two trees' assemblers on one bench case, in one process, cycle by cycle: which one costs less CPU per frame.
 *
 *   npx tsc -p bench/tsconfig.json   (in each tree; each also needs its addon: npm run build:prebuilt)
 *   node --expose-gc bench/.out/bench/assembly-ab.js <treeA> <treeB> [--case=480p-yuyv-1024] [--seconds=8]
 *
 * Each tree's compiled bench (createAssemblyRig in its bench/.out) builds its own rig with its own addon; the two
 * run alternately (A B, B A, ...) so that the host's other tenants weigh on both alike, and each cycle is measured
 * in the process's CPU time (process.cpuUsage: time the process ran, not time it waited for a CPU). Printed: each
 * tree's median CPU per frame over the second half of the cycles, and the median of the paired ratios B ÷ A. On
 * 2 shared vCPUs this resolves about ±2 % where wall-clock runs of `npm run bench` spread ±5 % and more; swap the
 * trees in a second run to see the noise. The frames are spot-checked as in the bench (a wrong frame throws).
 * Both trees must have createAssemblyRig in bench/assembly.ts (since 2026-12-07).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AssemblyCase, createAssemblyRig } from './assembly.js';
import { cpuSince, cpuStart, median } from './lib/measure.js';

interface Side {
  tree: string;
  setup: Awaited<ReturnType<typeof createAssemblyRig>>;
  cpuMs: number[];
}

async function sideOf(tree: string, caseName: string): Promise<Side> {
  const compiled = path.join(tree, 'bench/.out/bench/assembly.js');
  if (!existsSync(compiled)) throw new Error(`no compiled bench in ${tree} (npx tsc -p bench/tsconfig.json there)`);
  const bench = (await import(pathToFileURL(compiled).href)) as typeof import('./assembly.js');
  if (typeof bench.createAssemblyRig !== 'function') throw new Error(`${tree}: its bench has no createAssemblyRig (older than 2026-12-07)`);
  const c: AssemblyCase | undefined = bench.assemblyCases().find((x) => x.name === caseName);
  if (c === undefined) throw new Error(`no case ${caseName} in ${tree} (cases: ${bench.assemblyCases().map((x) => x.name).join(', ')})`);
  const setup = await bench.createAssemblyRig(c);
  if (setup.addon === null) throw new Error(`${tree}: its addon did not load (npm run build:prebuilt there)`);
  return { tree, setup, cpuMs: [] };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const trees = args.filter((a) => !a.startsWith('--')).map((t) => path.resolve(t));
  const option = (name: string, fallback: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  if (trees.length !== 2) throw new Error('usage: assembly-ab.js <treeA> <treeB> [--case=480p-yuyv-1024] [--seconds=8]');
  const caseName = option('case', '480p-yuyv-1024');
  const seconds = Number(option('seconds', '8'));
  const sides = [await sideOf(trees[0]!, caseName), await sideOf(trees[1]!, caseName)];
  const until = Date.now() + seconds * 1000;
  for (let k = 0; Date.now() < until; k++) {
    for (let j = 0; j < 2; j++) {
      const side = sides[(j + k) % 2]!;
      side.setup.stream.advanceClock();
      const start = cpuStart();
      await side.setup.rig.runCycle('spot');
      side.cpuMs.push(cpuSince(start).cpuMs);
    }
  }
  const cycles = Math.min(sides[0]!.cpuMs.length, sides[1]!.cpuMs.length);
  const from = cycles >> 1; // the first half warms up (JIT, the clock's windows)
  const ratios: number[] = [];
  for (let i = from; i < cycles; i++) ratios.push(sides[1]!.cpuMs[i]! / sides[0]!.cpuMs[i]!);
  for (const [name, side] of [['A', sides[0]!], ['B', sides[1]!]] as const) {
    const frames = side.setup.stream.frames.length;
    process.stdout.write(`${name} ${side.tree}: ${((median(side.cpuMs.slice(from, cycles)) * 1e3) / frames).toFixed(2)} µs CPU per frame\n`);
  }
  process.stdout.write(`${caseName}: B ÷ A ${median(ratios).toFixed(3)} (median of ${ratios.length} paired cycles)\n`);
  await Promise.all(sides.map((side) => side.setup.rig.close()));
}

try {
  await main();
} catch (error) {
  process.stderr.write(`assembly-ab: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
