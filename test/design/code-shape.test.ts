/**
 * Issue 18's shape, held: the frame assembler keeps what changes in named records (no loose mutable field), and
 * the CLI reads frames through one consumer loop, `queue.frames()`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SRC, sourceFiles } from './source-graph.js';

/** The property declarations of `className` in `file`: name and whether it is readonly. */
function fieldsOf(file: string, className: string): Array<{ name: string; readonly: boolean }> {
  const source = ts.createSourceFile(file, readFileSync(join(SRC, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  const found = source.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === className);
  if (found === undefined) throw new Error(`no class ${className} in src/${file}`);
  return found.members.filter(ts.isPropertyDeclaration).map((member) => ({
    name: member.name.getText(source),
    readonly: (ts.getModifiers(member) ?? []).some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword),
  }));
}

/** Calls of `.method(` outside comments, per src file under `folder`. */
function filesCalling(folder: string, method: string): string[] {
  return sourceFiles()
    .filter((file) => file.startsWith(`${folder}/`))
    .filter((file) => {
      const text = readFileSync(join(SRC, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      return new RegExp(`\\.${method}\\(`).test(text);
    });
}

describe('code shape', () => {
  it('FrameAssembler: every field is readonly (what changes lives in its named records, each with its own reset)', () => {
    const fields = fieldsOf('stream/frame-assembler.ts', 'FrameAssembler');
    expect(fields.map((f) => f.name)).toEqual(expect.arrayContaining(['frame', 'sync', 'framing', 'payload', 'stats', 'config']));
    expect(fields.filter((f) => !f.readonly).map((f) => f.name)).toEqual([]);
  });

  it('the CLI reads frames through queue.frames(); dqbuf only in the checks that test dqbuf itself', () => {
    expect(filesCalling('cli', 'dqbuf')).toEqual(['cli/check/stream-cycle-checks.ts', 'cli/check/unplug-check.ts']);
    expect(filesCalling('cli', 'frames')).toEqual(
      expect.arrayContaining(['cli/commands/capture.ts', 'cli/preview/frame-feed.ts', 'cli/check/mode-checks.ts']),
    );
  });
});
