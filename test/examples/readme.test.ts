/**
 * The README's TypeScript examples are the ones `npm run typecheck` compiles (test/examples/readme-snippets.ts): a
 * change to one without the other fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const snippets = readFileSync(new URL('./readme-snippets.ts', import.meta.url), 'utf8');

/** Each ```ts block of the README, with the indentation of the list item it sits in taken off. */
function typescriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^( *)```ts\n([\s\S]*?)^\1```/gm)].map(([, indent, body]) =>
    body!
      .split('\n')
      .map((line) => (line.startsWith(indent!) ? line.slice(indent!.length) : line))
      .join('\n')
      .trimEnd(),
  );
}

describe('README', () => {
  it('every TypeScript example is in readme-snippets.ts, which the typecheck compiles', () => {
    const blocks = typescriptBlocks(readme);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(snippets).toContain(block);
    // The controls example is the one issue 16 asked for: brightness.max + 1 must type-check.
    expect(blocks.join('\n')).toContain('brightness.max + 1');
  });

  it('says npm run -s wherever stdout carries data', () => {
    // Every command the README shows: `inline` ones and the lines of code blocks.
    const blocks = [...readme.matchAll(/^ *```\w*\n([\s\S]*?)^ *```/gm)].flatMap((m) => m[1]!.split('\n'));
    const inline = [...readme.replace(/^ *```\w*\n[\s\S]*?^ *```/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
    const commands = [...blocks, ...inline];
    const unsafe = commands.filter((c) => /npm run (?!-s )[^|;]*(-o -|--json)/.test(c));
    expect(unsafe).toEqual([]);
    expect(readme).toContain('npm run -s uvc-capture -- --virtual -o - | ffplay -f mjpeg -');
  });
});
