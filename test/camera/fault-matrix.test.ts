/**
 * Issue 12's acceptance: the fault matrix. Each cell streams frames through the whole stack (openCamera, the
 * in-process host) from a virtual camera that commits one fault, and scores what the driver delivered against
 * what the camera says it sent (camera.sentFrames): no whole frame flagged or lost, no damaged uncompressed
 * frame passed as good. MJPEG frames damaged without a mark the driver can see (an iso packet that arrives
 * empty, in the middle) are counted, not failed: test/camera/FAULT-MATRIX.md publishes both rates per cell
 * (written by bench/fault-matrix.ts, not by this test).
 *
 * Fast-pace cells run one after another; real-time cells (30 fps, real bus time) a few at a time.
 */
import { describe, expect, it } from 'vitest';
import { cellName, inBatches, matrixCells, runCell, type CellResult, type MatrixCell } from '../../bench/lib/fault-matrix.js';

const FAST_FRAMES = 40;
const REALTIME_FRAMES = 24;

function judge(result: CellResult): void {
  const { cell, score } = result;
  const name = `${cellName(cell)}: ${JSON.stringify({ ...score, byFault: score.byFault })}`;
  expect(result.received, name).toBeGreaterThan(0);
  expect(score.unmatched, name).toBe(0);
  expect(score.duplicates, name).toBe(0);
  // Whole frames: never flagged, never lost by the driver.
  expect(score.falsePositives, name).toBe(0);
  expect(score.wholeLost, name).toBe(0);
  // Damaged uncompressed frames: always flagged (or lost, never passed as good).
  if (cell.format === 'yuyv') expect(score.falseNegatives, name).toBe(0);
  // The cell tests its fault: the camera committed it on frames the driver saw.
  const committed: Record<string, string | null> = {
    loss: 'packet-loss',
    'silent-loss': 'packet-loss',
    err: 'error-bit',
    'no-eof': 'missing-eof',
    'no-fid': 'no-fid',
    short: 'short',
    overflow: 'overflow',
    jitter: null,
  };
  const fault = committed[cell.fault];
  if (fault !== null && fault !== 'packet-loss') expect(score.byFault[fault as keyof typeof score.byFault]?.frames ?? 0, name).toBeGreaterThan(0);
  // Late completions: the host's clock saw gaps the device never had (iso), and they cost nothing.
  if (cell.fault === 'jitter' && cell.transfer === 'iso') expect(result.stats.lostIntervals, name).toBeGreaterThan(0);
}

describe('fault matrix (issue 12)', () => {
  const cells = matrixCells();
  const fast = cells.filter((c) => c.pace === 'fast');
  const realtime = cells.filter((c) => c.pace === 'realtime');

  it(`fast pace: ${fast.length} cells, ${FAST_FRAMES} frames each`, async () => {
    const results: CellResult[] = [];
    for (const cell of fast) results.push(await runCell(cell, FAST_FRAMES));
    for (const result of results) judge(result);
    // Packet loss does damage frames somewhere in the fast cells (each cell alone may be lucky).
    expect(results.filter((r) => r.cell.fault === 'loss').reduce((n, r) => n + r.damaged, 0)).toBeGreaterThan(0);
  }, 300_000);

  it(`real time: ${realtime.length} cells, ${REALTIME_FRAMES} frames each`, async () => {
    const results = await inBatches<MatrixCell, CellResult>(realtime, 6, (cell) => runCell(cell, REALTIME_FRAMES));
    for (const result of results) judge(result);
  }, 300_000);
});
