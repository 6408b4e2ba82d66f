/**
 * The published declarations (dist/*.d.ts, what `npm test` builds first) carry no internals: no `_` members, no
 * @internal declarations, nothing a user could mistake for API. Walks every file reachable from dist/index.d.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist');

function reachable(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    for (const match of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) pending.push(resolve(dirname(file), `${match[1]}.d.ts`));
  }
  return files;
}

describe('published types', () => {
  it('hold no underscore members and no @internal declarations', () => {
    const entry = resolve(dist, 'index.d.ts');
    expect(existsSync(entry), 'dist/index.d.ts is missing: run `npm run build` (npm test does)').toBe(true);
    const files = reachable(entry);
    expect(files.size).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const [file, text] of files) {
      const name = file.slice(dist.length + 1);
      for (const match of text.matchAll(/^\s+(?:(?:readonly|static|protected)\s+)*(_\w+)\s*[?:(<;]/gm)) problems.push(`${name}: ${match[1]}`);
      if (text.includes('@internal')) problems.push(`${name}: an @internal declaration`);
    }
    expect(problems).toEqual([]);
    // The file-handle layer is public; the queue core behind it is not exported.
    const index = files.get(entry)!;
    expect(index).toMatch(/QueueHandle/);
    expect(index).not.toMatch(/BufferQueue/);
  });
});
