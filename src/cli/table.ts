/**
 * Plain-text tables for terminals: left-aligned columns, two spaces apart, no box drawing (easy to grep). Given a
 * width (the terminal's), the widest columns are narrowed and their cells wrapped onto more lines until the table
 * fits; piped to a file or a program, rows stay one line each.
 */

const GAP = 2;
/** No column is narrowed below this (or its header). */
const MIN_COLUMN = 6;

/** The width to fit output to: the terminal's when stdout is one, else $COLUMNS when set, else none. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number | undefined {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const columns = Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? columns : undefined;
}

/** Breaks `text` into lines of at most `width` characters, at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    let rest = word;
    while (rest.length > width) {
      // A word longer than the column: break it, after what fits on the current line.
      const room = line === '' ? width : width - line.length - 1;
      if (room >= 4 || line === '') {
        const head = rest.slice(0, Math.max(room, 1));
        lines.push(line === '' ? head : `${line} ${head}`);
        line = '';
        rest = rest.slice(head.length);
      } else {
        lines.push(line);
        line = '';
      }
    }
    if (line === '') line = rest;
    else if (line.length + 1 + rest.length <= width) line += ` ${rest}`;
    else {
      lines.push(line);
      line = rest;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * Column widths that fit `maxWidth` (with `indent` before each line): the widest of the columns that may shrink
 * loses a character at a time, none below its header or MIN_COLUMN. Columns not in `shrink` (names) keep their width.
 */
function fit(widths: number[], header: readonly string[], maxWidth: number, indent: number, shrink: readonly number[]): number[] {
  const out = [...widths];
  const floor = (i: number) => Math.max(MIN_COLUMN, header[i]!.length);
  let total = indent + out.reduce((a, b) => a + b, 0) + GAP * (out.length - 1);
  // The columns that may shrink first; then, as a last resort, the others.
  const rest = out.map((_, i) => i).filter((i) => !shrink.includes(i));
  for (const tier of [shrink, rest]) {
    while (total > maxWidth) {
      let widest = -1;
      for (const i of tier) if (out[i]! > floor(i) && (widest < 0 || out[i]! > out[widest]!)) widest = i;
      if (widest < 0) break;
      out[widest]!--;
      total--;
    }
  }
  return out; // as narrow as it goes: a terminal narrower still wraps the rest itself
}

export interface TableOptions {
  /** Fit to this many columns (see outputWidth); without it, rows are never wrapped. */
  maxWidth?: number;
  /** Spaces before every line. */
  indent?: number;
  /** The columns narrowed first (their cells wrapped), widest first; the others only when these cannot give more. Default: all but the first. */
  shrink?: readonly number[];
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const indent = options.indent ?? 0;
  const natural = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const shrink = options.shrink ?? header.map((_, i) => i).slice(1);
  const widths = options.maxWidth === undefined ? natural : fit(natural, header, options.maxWidth, indent, shrink);
  const pad = ' '.repeat(indent);
  const render = (cells: readonly string[]): string[] => {
    const wrapped = widths.map((w, i) => wrap(cells[i] ?? '', w));
    const height = Math.max(...wrapped.map((c) => c.length));
    const lines: string[] = [];
    for (let l = 0; l < height; l++) {
      const line = wrapped
        .map((cell, i) => (i === widths.length - 1 ? (cell[l] ?? '') : (cell[l] ?? '').padEnd(widths[i]!)))
        .join(' '.repeat(GAP))
        .trimEnd();
      lines.push(pad + line);
    }
    return lines;
  };
  return [...render(header), pad + widths.map((w) => '-'.repeat(w)).join(' '.repeat(GAP)), ...rows.flatMap(render)].join('\n');
}

export function hex4(value: number): string {
  return value.toString(16).padStart(4, '0');
}
