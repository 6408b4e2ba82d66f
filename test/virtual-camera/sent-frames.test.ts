/**
 * The virtual camera's ground truth (`camera.sentFrames`) and the scorer built on it (scoreCapture): what the
 * device did to each frame, when it captured it, and how a capture is judged against that.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { scoreCapture, VirtualCamera, type ReceivedFrame, type SentFrame, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { stampOf } from '../camera/helpers.js';
import { enumerate, negotiate, readIso, setInterface, VS } from './helpers/raw-usb.js';

const W = 160;
const H = 120;
const SMALL = { format: 'yuyv' as const, frames: [{ width: W, height: H, fps: [30] }] };

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

/** Streams `count` frames through openCamera and returns what the driver delivered. */
async function capture(options: VirtualCameraOptions, count: number): Promise<{ vcam: VirtualCamera; received: ReceivedFrame[] }> {
  const vcam = new VirtualCamera({ formats: [SMALL], ...options });
  const camera = await openCamera(vcam);
  open.push(camera);
  const queue = camera.queue;
  queue.reqbufs(6);
  for (let i = 0; i < 6; i++) queue.qbuf(i);
  await queue.streamon();
  const received: ReceivedFrame[] = [];
  for await (const buffer of queue) {
    received.push({ stamp: stampOf(buffer, W, H), sequence: buffer.sequence, error: buffer.flags.error });
    if (received.length === count) break;
  }
  await queue.streamoff();
  return { vcam, received };
}

function record(overrides: Partial<SentFrame>): SentFrame {
  return { stream: 0, sequence: 0, status: 'sent', unheard: false, faults: [], damaged: false, size: 100, bytes: 100, captureNs: 0, pts: null, ...overrides };
}

describe('camera.sentFrames', () => {
  it('records every frame with the faults the device committed on it', async () => {
    const { vcam, received } = await capture(
      { pace: 'fast', faults: { errorFrames: [3], shortFrames: [5], missingEof: [7], overflowFrames: [9] } },
      14,
    );
    const sent = vcam.sentFrames;
    expect(sent.length).toBeGreaterThanOrEqual(14);
    const bySeq = new Map(sent.map((f) => [f.sequence, f]));
    for (let s = 0; s < 14; s++) {
      const f = bySeq.get(s)!;
      expect(f.stream).toBe(0);
      expect(f.status).toBe('sent');
      expect(f.unheard).toBe(false);
      expect(f.size).toBe(W * H * 2);
      expect(f.pts).not.toBeNull();
    }
    expect(bySeq.get(3)).toMatchObject({ faults: ['error-bit'], damaged: true, bytes: W * H * 2 });
    expect(bySeq.get(5)).toMatchObject({ faults: ['short'], damaged: true, bytes: (W * H * 2) / 2 });
    expect(bySeq.get(7)).toMatchObject({ faults: ['missing-eof'], damaged: false });
    expect(bySeq.get(9)!.faults).toEqual(['overflow']);
    expect(bySeq.get(9)!.bytes).toBeGreaterThan(W * H * 2);
    expect(bySeq.get(0)).toMatchObject({ faults: [], damaged: false });
    // Fast pace: nothing skipped, nothing unheard; capture instants follow each other.
    for (let s = 1; s < 14; s++) expect(bySeq.get(s)!.captureNs).toBeGreaterThanOrEqual(bySeq.get(s - 1)!.captureNs);

    const score = scoreCapture(sent, received);
    expect(score.matched + score.unmatched).toBe(received.length);
    expect(score.falseNegatives).toBe(0);
    expect(score.byFault['error-bit']).toMatchObject({ frames: 1, flagged: 1 });
    expect(score.byFault['short']).toMatchObject({ frames: 1, flagged: 1 });
  });

  it('keeps only the newest sentFramesLimit records, and numbers streams', async () => {
    const vcam = new VirtualCamera({ formats: [SMALL], pace: 'fast', sentFramesLimit: 4 });
    const camera = await openCamera(vcam);
    open.push(camera);
    const queue = camera.queue;
    queue.reqbufs(3);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) queue.qbuf(i);
      await queue.streamon();
      let n = 0;
      for await (const buffer of queue) {
        void buffer;
        if (++n === 8) break;
      }
      await queue.streamoff();
    }
    const sent = vcam.sentFrames;
    expect(sent).toHaveLength(4);
    expect(sent.every((f) => f.stream === 1)).toBe(true);
    const sequences = sent.map((f) => f.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });

  it('real time: capture instants are the host-clock instants the PTS stands for', async () => {
    const before = Number(process.hrtime.bigint());
    const { vcam } = await capture({ pace: 'realtime' }, 6);
    const after = Number(process.hrtime.bigint());
    // Every captured frame, sent or not (a loaded machine may leave some unsent or unheard).
    const sent = vcam.sentFrames;
    expect(sent.filter((f) => f.status === 'sent' && !f.unheard).length).toBeGreaterThanOrEqual(6);
    const hz = vcam.config.clockFrequency;
    for (let i = 1; i < sent.length; i++) {
      const a = sent[i - 1]!;
      const b = sent[i]!;
      expect(b.sequence).toBe(a.sequence + 1);
      const ptsNs = (((b.pts! - a.pts! + 2 ** 32) % 2 ** 32) / hz) * 1e9;
      // The device clock ticks at 48 MHz off the same bus time: the two agree to a tick.
      expect(Math.abs(ptsNs - (b.captureNs - a.captureNs))).toBeLessThan(1000);
      expect(b.captureNs).toBeGreaterThan(a.captureNs);
    }
    for (const f of sent) {
      expect(f.captureNs).toBeGreaterThan(before);
      expect(f.captureNs).toBeLessThan(after);
      expect(f.pts).not.toBeNull();
    }
  });

  it('real time: frames the bus is too slow for are skipped, frames sent with nobody listening are unheard', async () => {
    // 38 400-byte frames at 30 fps through the smallest alt setting (128 bytes per microframe): a frame takes
    // longer than a frame period to send, so the device skips captures to send the newest.
    // Real time on a shared machine: a run where the host itself fell so far behind that nothing was skipped
    // (everything went unheard) is tried again, up to three times.
    let sent: readonly SentFrame[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const vcam = new VirtualCamera({ formats: [SMALL], pace: 'realtime' });
      await enumerate(vcam);
      await negotiate(vcam, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
      await setInterface(vcam, VS, 1);
      let packets = 0;
      await readIso(vcam, 128, 64, 4, () => ++packets < 64 * 24);
      // Nobody listens for a while: what the device sends now goes into the void.
      await new Promise((resolve) => setTimeout(resolve, 400));
      packets = 0;
      await readIso(vcam, 128, 64, 4, () => ++packets < 64 * 12);
      await setInterface(vcam, VS, 0);
      sent = vcam.sentFrames;
      if (sent.some((f) => f.status === 'skipped') && sent.some((f) => f.status === 'sent' && f.unheard)) break;
    }
    expect(sent.some((f) => f.status === 'skipped')).toBe(true);
    expect(sent.some((f) => f.status === 'sent' && f.unheard)).toBe(true);
    for (const f of sent) {
      if (f.status === 'skipped') expect(f.bytes).toBe(0);
      if (f.faults.includes('bus-gap')) expect(f.damaged).toBe(true);
    }
  });

  it('bulk packet loss fails whole transfers and marks the frames they carried', async () => {
    const { vcam, received } = await capture({ pace: 'fast', transfer: 'bulk', seed: 7, faults: { packetLossRate: 0.002 } }, 40);
    const sent = vcam.sentFrames;
    const lossy = sent.filter((f) => f.faults.includes('packet-loss'));
    expect(lossy.length).toBeGreaterThan(0);
    for (const f of lossy) expect(f.damaged).toBe(true);
    const score = scoreCapture(sent, received);
    expect(score.falseNegatives).toBe(0);
  });
});

describe('scoreCapture', () => {
  it('counts precision, recall and lost frames, placing unstamped frames by sequence', () => {
    const sent = [
      record({ sequence: 0 }),
      record({ sequence: 1, faults: ['error-bit'], damaged: true }),
      record({ sequence: 2, faults: ['packet-loss'], damaged: true }),
      record({ sequence: 3 }),
      record({ sequence: 4, status: 'skipped' }),
      record({ sequence: 5, unheard: true }),
      record({ sequence: 6 }),
      record({ sequence: 7, faults: ['missing-eof'] }),
      record({ sequence: 8 }),
      record({ sequence: 9, status: 'sending' }),
    ];
    // The driver's sequence runs 10 behind the stamps; frame 2's stamp is unreadable; frame 6 never arrived.
    const received: ReceivedFrame[] = [
      { stamp: 0, sequence: 10, error: false },
      { stamp: 1, sequence: 11, error: true },
      { stamp: null, sequence: 12, error: false },
      { stamp: 3, sequence: 13, error: true },
      { stamp: 7, sequence: 17, error: false },
      { stamp: 8, sequence: 18, error: false },
      { stamp: null, error: false },
    ];
    const score = scoreCapture(sent, received);
    expect(score).toMatchObject({
      matched: 6,
      unmatched: 1,
      duplicates: 0,
      truePositives: 1,
      falsePositives: 1,
      falseNegatives: 1,
      trueNegatives: 3,
      precision: 0.5,
      recall: 0.5,
      lost: 1,
      wholeLost: 1,
      skipped: 1,
      unheard: 1,
    });
    expect(score.byFault['missing-eof']).toEqual({ frames: 1, flagged: 0, unflagged: 1, lost: 0 });
    expect(score.byFault['packet-loss']).toEqual({ frames: 1, flagged: 0, unflagged: 1, lost: 0 });
  });

  it('places a frame without a stamp by its timestamp when the camera skipped frames before it', () => {
    // Captured every 10 ms; frames 2 and 3 skipped by the camera (never sent), so the driver numbers frame 4
    // (damaged, its stamp unreadable) 2: placed by sequence next to frame 1 it would land on skipped frame 2.
    const at = (s: number) => 1_000_000 + s * 10_000_000;
    const sent = [0, 1, 2, 3, 4, 5, 6].map((s) => record({ sequence: s, captureNs: at(s), status: s === 2 || s === 3 ? 'skipped' : 'sent', damaged: s === 4 }));
    const delay = 3_000_000;
    const received: ReceivedFrame[] = [
      { stamp: 0, sequence: 0, error: false, timestamp: at(0) + delay },
      { stamp: 1, sequence: 1, error: false, timestamp: at(1) + delay },
      { stamp: null, sequence: 2, error: true, timestamp: at(4) + delay + 400_000 },
      { stamp: 5, sequence: 3, error: false, timestamp: at(5) + delay },
      { stamp: 6, sequence: 4, error: false, timestamp: at(6) + delay },
    ];
    expect(scoreCapture(sent, received)).toMatchObject({ matched: 5, truePositives: 1, falsePositives: 0, skipped: 2, lost: 0 });
    // By sequence alone it lands on the skipped frame 2, which was never damaged.
    expect(scoreCapture(sent, received.map(({ timestamp: _t, ...r }) => r))).toMatchObject({ truePositives: 0, falsePositives: 1 });
  });

  it('scores the newest stream unless told, and maps stamps through a frame cache', () => {
    const sent = [record({ stream: 0, sequence: 0, damaged: true }), ...[0, 1, 2, 3, 4, 5].map((s) => record({ stream: 1, sequence: s }))];
    const received: ReceivedFrame[] = [0, 1, 2, 0, 1, 2].map((stamp) => ({ stamp, error: false }));
    const score = scoreCapture(sent, received, { frameCache: 3 });
    expect(score).toMatchObject({ stream: 1, matched: 6, duplicates: 0, lost: 0, trueNegatives: 6 });
    expect(scoreCapture(sent, [{ stamp: 0, error: true }], { stream: 0 })).toMatchObject({ truePositives: 1, precision: 1, recall: 1 });
  });
});
