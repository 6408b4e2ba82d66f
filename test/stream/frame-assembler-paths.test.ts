/**
 * The assembler's short path (a packet that continues the open frame, handled inline) and its long path
 * (payloadStart / append / payloadEnd) must agree: the same frames, bytes, flags, sequence numbers, timestamps
 * and counters, whatever the packets hold. Seeded streams (helpers/path-streams.ts: random ones with much damage,
 * camera-like ones with rare damage) go through an assembler with the short path turned off, one with it, one
 * whose short path notes its copies and makes them in runs (copyRuns, as with the native transport; here a
 * copyRuns in JavaScript that checks its rows as the addon's does), one with the native transport's short path
 * in C (the addon's isoScan and copyRuns), and one fed runs of transfers together whose C scan goes on from one
 * transfer to the next (processTransfers with a slot memory's scan, as a native stream's scanSlots).
 */
import { describe, expect, it } from 'vitest';
import type { FrameAssemblerOptions, VideoFormatKind } from '../../src/stream/frame-assembler.js';
import { assemblerRig, type FrameRecord } from './helpers/assembler-rig.js';
import { comparePaths, INTERVAL, randomPacket, STRIDE, type ScanCount } from './helpers/path-streams.js';
import { optionalAddon } from './helpers/optional-addon.js';
import { Random } from './helpers/random.js';
import { bulkTransfer, concat, header, isoTransfer, pattern } from './helpers/transfers.js';

const ADDON = optionalAddon();

describe('assembler paths', () => {
  it('the short path (copying per packet, in runs with copyRuns, or in C with isoScan) and the long path agree on random packets', async () => {
    if (ADDON === null) console.log('assembler paths: the native addon does not load here: the C short path (isoScan) is not compared');
    for (let seed = 1; seed <= 60; seed++) await comparePaths(seed, 'random', ADDON);
  });

  it('they agree on camera-like streams (SOF learned, rare damage), where the C scan takes most packets', async () => {
    const scanned: ScanCount = { payloads: 0, all: 0, ended: 0, crossed: 0 };
    for (let seed = 1; seed <= 40; seed++) await comparePaths(seed, 'camera', ADDON, scanned);
    if (ADDON !== null) {
      expect(scanned.payloads / scanned.all).toBeGreaterThan(0.6);
      // Many frames ended by a packet the scan took (EOF or the exact size), the frame then ended in JavaScript.
      expect(scanned.ended).toBeGreaterThan(100);
      // The scan over runs went on from transfer to transfer, often.
      expect(scanned.crossed).toBeGreaterThan(500);
    }
  });
});

/** Random iso transfers for `options`, after `count` earlier ones (the same seed gives the same transfers). */
function randomTransfers(seed: number, kind: VideoFormatKind, count: number) {
  const random = new Random(seed);
  const state = { fid: 0, pts: 0, sof: 0 };
  let now = 1_000_000_000;
  return Array.from({ length: count }, (_, t) => {
    const packets = Array.from({ length: random.int(1, 16) }, () => randomPacket(random, state, kind));
    now += packets.length * INTERVAL;
    return isoTransfer(packets, { stride: STRIDE, slot: t % 4, completedAtNs: now, lostIntervals: random.chance(0.05) ? random.int(1, 200) : 0 });
  });
}

const withoutIndex = (frames: FrameRecord[]) => frames.map(({ index: _index, ...f }) => ({ ...f, data: Buffer.from(f.data).toString('base64') }));

describe('reset()', () => {
  it('leaves nothing behind: after reset an assembler does what a new one does (iso, random streams)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const kind = new Random(seed).pick<VideoFormatKind>(['uncompressed', 'mjpeg', 'h264']);
      const options: FrameAssemblerOptions = {
        formatKind: kind,
        transferType: 'iso',
        intervalNs: INTERVAL,
        expectedFrameSize: kind === 'uncompressed' ? 5000 : undefined,
        clockFrequency: 48_000_000,
        frameIntervalNs: 40 * INTERVAL,
      };
      const used = await assemblerRig(options, { bufferSize: 6000, buffers: 3 });
      used.feed(...randomTransfers(seed + 1000, kind, 30)); // leaves a frame open, FID history, clock samples
      await used.drain();
      used.assembler.reset();
      const fresh = await assemblerRig(options, { bufferSize: 6000, buffers: 3 });
      const after = randomTransfers(seed, kind, 60);
      used.feed(...after);
      fresh.feed(...after);
      expect(withoutIndex(await used.drain()), `seed ${seed}`).toEqual(withoutIndex(await fresh.drain()));
      expect(used.assembler.stats).toEqual(fresh.assembler.stats);
    }
  });

  it('forgets a bulk payload cut off in the middle', async () => {
    const options: FrameAssemblerOptions = { formatKind: 'uncompressed', transferType: 'bulk', expectedFrameSize: 3000, maxPayloadSize: 4096, transferSize: 1024 };
    const frame = (fid: number) => concat(header({ fid, eof: true }), pattern(3000, fid + 1));
    const transfers = (bytes: Uint8Array) => {
      const out = [];
      for (let at = 0; at < bytes.length; at += 1024) out.push(bulkTransfer(bytes.subarray(at, at + 1024), { transferSize: 1024 }));
      return out;
    };
    const used = await assemblerRig(options, { bufferSize: 3000, buffers: 2 });
    used.feed(...transfers(frame(0)).slice(0, 2)); // half a payload, and its frame, in hand
    used.assembler.reset();
    const fresh = await assemblerRig(options, { bufferSize: 3000, buffers: 2 });
    const next = [...transfers(frame(1)), ...transfers(frame(0))];
    used.feed(...next);
    fresh.feed(...next);
    const frames = await used.drain();
    expect(withoutIndex(frames)).toEqual(withoutIndex(await fresh.drain()));
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual([
      [0, false, 3000],
      [1, false, 3000],
    ]);
    expect(used.assembler.stats).toEqual(fresh.assembler.stats);
  });
});
