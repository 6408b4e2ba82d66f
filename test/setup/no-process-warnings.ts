/**
 * A Node process warning in a test run is a failure (the brief's rule): it fails the test during which it was
 * emitted (or the file, when it comes after the last test), naming the warning and where it came from.
 * Warnings are emitted on the next tick, so one raised at the very end of a test may be charged to the next.
 */
import { afterAll, afterEach } from 'vitest';

const KEY = Symbol.for('uvc-capture.test.process-warnings');
type Store = { warnings: Error[] };
const global = globalThis as unknown as Record<symbol, Store | undefined>;
let store = global[KEY];
if (store === undefined) {
  const created: Store = { warnings: [] };
  store = created;
  global[KEY] = created;
  process.on('warning', (warning) => created.warnings.push(warning));
}
const seen = store;

function failOnWarnings(): void {
  if (seen.warnings.length === 0) return;
  const warnings = seen.warnings.splice(0);
  const text = warnings.map((w) => `${w.name}: ${w.message}${w.stack ? `\n${w.stack.split('\n').slice(1, 6).join('\n')}` : ''}`).join('\n');
  throw new Error(`${warnings.length} Node process warning(s) during this test:\n${text}`);
}

afterEach(failOnWarnings);
afterAll(failOnWarnings);
