/**
 * NODE_DEBUG=uvc: the assembler says why every frame ended, why it was flagged or dropped, and what it learned.
 * Node reads NODE_DEBUG when a process starts, so this runs the built assembler (dist/, built by `npm test`'s
 * pretest) in a child process and reads its stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist', 'stream', 'frame-assembler.js');

// Four uncompressed 100-byte frames in 2-byte-header packets: whole; ERR bit; 90 bytes; then stray data after
// the FID was seen to toggle, and a frame with no buffer queued.
const SCRIPT = `
const { FrameAssembler } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const { BufferQueue } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'queue', 'buffer-queue.js')).href)});
const { QueueHandle } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'queue', 'queue-handle.js')).href)});
const queue = new BufferQueue({ bufferSize: 100 });
const handle = new QueueHandle(queue);
handle.reqbufs(3);
for (let i = 0; i < 3; i++) handle.qbuf(i);
await handle.streamon();
const assembler = new FrameAssembler(queue, { formatKind: 'uncompressed', transferType: 'iso', intervalNs: 125000, expectedFrameSize: 100 });
const packets = [];
const packet = (info, n) => { const b = new Uint8Array(2 + n).fill(7); b[0] = 2; b[1] = 0x80 | info; packets.push(b); };
packet(0, 50); packet(2, 50);            // frame 0: FID 0, EOF
packet(1 | 0x40, 50); packet(1 | 2, 50); // frame 1: FID 1, ERR
packet(0, 60); packet(2, 30);            // frame 2: FID 0, 90 bytes
packet(0, 20);                           // stray data with FID 0 after frame 2 ended
packet(1, 50); packet(3, 50);            // frame 3: no buffer left
const stride = 128;
const buffer = new Uint8Array(packets.length * stride);
const transfer = { slot: 0, sequence: 0, status: 0, buffer, actualLength: 0, packetCount: packets.length, packetStride: stride,
  packetStatus: new Int32Array(packets.length), packetLength: new Int32Array(packets.length), lostIntervals: 0,
  completedAtNs: 1e9, release() {} };
packets.forEach((p, i) => { buffer.set(p, i * stride); transfer.packetLength[i] = p.length; });
assembler.processTransfer(transfer);
process.stdout.write(JSON.stringify(assembler.stats));
`;

function run(env: NodeJS.ProcessEnv): { stdout: string; stderr: string } {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` (npm test does it first)`);
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('assembly trace (NODE_DEBUG=uvc)', () => {
  it('names the reason for every frame end, flag and drop, and what was learned', () => {
    const { stdout, stderr } = run({ NODE_DEBUG: 'uvc' });
    const lines = stderr.split('\n').filter((line) => line.startsWith('UVC '));
    const text = lines.join('\n');
    expect(text).toMatch(/frame 0 ended \(eof\), 100 bytes$/m);
    expect(text).toMatch(/frame 1 ended \(eof\), 100 bytes, flagged: ERR bit$/m);
    expect(text).toMatch(/frame 2 ended \(eof\), 90 bytes, flagged: wrong size$/m);
    expect(text).toMatch(/learned FID mode 'toggles'/);
    expect(text).toMatch(/dropped stray data with the FID of frame 2/);
    expect(text).toMatch(/frame 3 ended \(eof\), 100 bytes: dropped, no buffer was queued/);
    expect(JSON.parse(stdout)).toMatchObject({ frames: 3, erroredFrames: 2, droppedFrames: 1, outOfSyncPayloads: 1, fidMode: 'toggles' });
  });

  it('prints nothing without NODE_DEBUG', () => {
    const { stderr } = run({ NODE_DEBUG: '' });
    expect(stderr).toBe('');
  });
});
