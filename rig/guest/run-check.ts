/**
 * Runs one check file in this process (the runner starts one process per check). Exit 0: passed.
 *   node run-check.js <compiled check file>   (environment: UVC_RIG_RUN, UVC_RIG_TOOLS, UVC_RIG_PROJECT)
 */
import { pathToFileURL } from 'node:url';
import { checkName, type Check, type CheckContext } from './lib/check.js';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: run-check.js <check.js>');
  const mod = (await import(pathToFileURL(file).href)) as { default?: Check };
  if (typeof mod.default !== 'function') throw new Error(`${file} has no default export function`);
  const name = checkName(file);
  const ctx: CheckContext = {
    name,
    runDir: process.env.UVC_RIG_RUN ?? '/tmp',
    toolsDir: process.env.UVC_RIG_TOOLS ?? '/tmp',
    projectRoot: process.env.UVC_RIG_PROJECT ?? process.cwd(),
    // Seconds since this process started (node's own start-up included: it is slow under emulation).
    log: (message) => console.log(`  [${(performance.now() / 1000).toFixed(1).padStart(5)}s] ${message}`),
  };
  await mod.default(ctx);
}

let settled = false;
// A check awaiting a promise nothing will ever settle would otherwise let node exit 0 when its event loop
// empties: a silent pass.
process.on('beforeExit', () => {
  if (settled) return;
  console.log('  ERROR: the check never finished: it awaited a promise that nothing settles');
  process.exit(1);
});

main().then(
  () => {
    settled = true;
    process.exit(0);
  },
  (err: unknown) => {
    settled = true;
    console.log(`  ERROR: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
