/**
 * Several cameras streaming in one process, each into its own queue (issue 17, item 2 and 5): four virtual
 * cameras on one VirtualBus, iso and bulk mixed, 10 000 frames each in fast pace. No cross-talk: every
 * frame a queue delivers has its own camera's size and the stamp its own camera put in it, at its own sequence
 * (each camera cycles a different number of cached frames, so a frame of another camera could not pass for one of
 * this camera's), and every frame a device sent is accounted for by its own camera's driver (delivered, or
 * dropped for want of a free buffer). Unplugging one
 * camera leaves the others streaming; only its queue ends, with ENXIO.
 *
 * CPU per frame with the number of cameras is measured in the bench (`npm run bench -- --only=multiCamera`),
 * not here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { isUvcError } from '../../src/errors.js';
import { VirtualBus } from '../../src/transport/virtual/virtual-bus.js';
import { decodeFrameStamp, type VirtualCamera } from '../../src/virtual-camera/index.js';
import { throughputCamera } from '../../bench/lib/quiet-camera.js';

interface Rig {
  name: string;
  vcam: VirtualCamera;
  camera: Camera;
  width: number;
  height: number;
  /** Distinct per camera: frame n carries stamp n mod cache. */
  cache: number;
}

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

const CAMERAS = [
  // iso at 400 fps: 2146 bytes per microframe → alt 6 (3 × 1024, 61 µs)
  { name: 'A', transfer: 'iso', width: 160, height: 120, fps: 400, cache: 61 },
  { name: 'B', transfer: 'bulk', width: 176, height: 144, fps: 30, cache: 67 },
  // iso at 200 fps: 695 bytes per microframe → alt 4 (1024, 21 µs)
  { name: 'C', transfer: 'iso', width: 128, height: 96, fps: 200, cache: 71 },
  { name: 'D', transfer: 'bulk', width: 192, height: 144, fps: 30, cache: 73 },
] as const;

async function rig(bus: VirtualBus, count: number): Promise<Rig[]> {
  const rigs: Rig[] = [];
  for (const spec of CAMERAS.slice(0, count)) {
    // Fast pace with completions one per event-loop turn (as the addon delivers them) and automatic exposure off
    // (its status reports would come hundreds of times faster than at the nominal rate): bench/lib/quiet-camera.ts.
    const vcam = throughputCamera(
      { transfer: spec.transfer, serial: `MULTI-${spec.name}`, formats: [{ format: 'yuyv', frames: [{ width: spec.width, height: spec.height, fps: [spec.fps] }] }] },
      spec.cache,
    );
    bus.plug(vcam, { name: spec.name });
    const camera = await openCamera(vcam);
    open.push(camera);
    await camera.setFormat({ width: spec.width, height: spec.height, fps: spec.fps });
    const n = camera.queue.reqbufs(8);
    for (let i = 0; i < n; i++) camera.queue.qbuf(i);
    rigs.push({ name: spec.name, vcam, camera, width: spec.width, height: spec.height, cache: spec.cache });
  }
  return rigs;
}

interface Tally {
  frames: number;
  /** Frames that were not exactly this camera's: wrong size, wrong or unreadable stamp, flagged. */
  foreign: string[];
  gaps: number;
  lastSequence: number;
}

/** Consumes frames until `done()` (or the loop ends), judging each against its own camera. */
async function consume(r: Rig, done: () => boolean, tally: Tally, onFrame?: () => void): Promise<void> {
  for await (const buffer of r.camera.queue.frames({ timeoutMs: 30_000 })) {
    if (buffer.bytesused === 0 && buffer.sequence < 0) continue; // handed back unfilled by an unplug
    tally.frames++;
    if (tally.lastSequence >= 0 && buffer.sequence !== tally.lastSequence + 1) tally.gaps++;
    tally.lastSequence = buffer.sequence;
    const stamp = decodeFrameStamp({ data: buffer.data, width: r.width, height: r.height, format: 'yuyv' });
    if (buffer.flags.error || buffer.bytesused !== r.width * r.height * 2 || stamp !== buffer.sequence % r.cache) {
      if (tally.foreign.length < 5) tally.foreign.push(`${r.name} sequence ${buffer.sequence}: ${buffer.bytesused} B, stamp ${stamp}, error ${buffer.flags.error}`);
      else tally.foreign.length++;
    }
    onFrame?.();
    if (done()) break;
  }
}

const FRAMES = Number(process.env.MULTI_FRAMES ?? 10_000);
const newTally = (): Tally => ({ frames: 0, foreign: [], gaps: 0, lastSequence: -1 });

describe('several cameras in one process', () => {
  it('streams four cameras (iso and bulk) for 10 000 frames each, every frame its own camera\'s', { timeout: 600_000 }, async () => {
    const bus = new VirtualBus();
    const rigs = await rig(bus, 4);
    await Promise.all(rigs.map((r) => r.camera.queue.streamon()));
    expect(bus.usage.holdings.filter((h) => h.altSetting !== 0).map((h) => `${h.device} alt ${h.altSetting}`)).toEqual(['A alt 6', 'C alt 4']);
    const tallies = rigs.map(newTally);
    // Frames the device has sent that its driver has not assembled yet: what the transfers between them hold.
    const backlog = (r: Rig): number => r.vcam.framesSent - r.camera.stats.assembly!.frames - r.camera.stats.assembly!.droppedFrames;
    const early = rigs.map(() => 0);
    const stats = await Promise.all(
      rigs.map(async (r, i) => {
        const tally = tallies[i]!;
        await consume(r, () => tally.frames >= FRAMES, tally, () => {
          if (tally.frames === Math.floor(FRAMES / 10)) early[i] = backlog(r);
        });
        const transfers = r.camera.stats.transfers!;
        return { assembly: { ...r.camera.stats.assembly! }, sent: r.vcam.framesSent, ring: transfers.held + transfers.inFlight, completed: transfers.completed };
      }),
    );
    await Promise.all(rigs.map((r) => r.camera.queue.streamoff()));
    for (const [i, r] of rigs.entries()) {
      const t = tallies[i]!;
      const { assembly, sent } = stats[i]!;
      expect(t.frames, `${r.name}: frames delivered`).toBe(FRAMES);
      expect(t.foreign, `${r.name}: frames not its own`).toEqual([]);
      // Every frame this camera sent went through this camera's driver: delivered or dropped (no free buffer),
      // none damaged (fast pace loses nothing), none elsewhere. Frames still in the transfers between device and
      // driver are neither: a fast-pace device fills every transfer at once, so the whole ring waits for
      // JavaScript (each completion is handed over in its own event-loop turn). That backlog is bounded by the
      // ring and does not grow: a frame lost on the way would make it grow.
      expect(assembly.erroredFrames, r.name).toBe(0);
      const accounted = assembly.frames + assembly.droppedFrames;
      const { ring, completed } = stats[i]!;
      const framesPerTransfer = Math.ceil(sent / completed) + 1;
      expect(accounted, `${r.name}: assembled + dropped vs sent ${sent}`).toBeLessThanOrEqual(sent);
      // The stamps tie each delivered frame's sequence to the camera's own count: up to the last one, all assembled.
      expect(accounted, `${r.name}: assembled + dropped vs the last sequence delivered`).toBeGreaterThanOrEqual(t.lastSequence + 1);
      expect(sent - accounted, `${r.name}: backlog vs a ring of ${ring} transfers`).toBeLessThanOrEqual(ring * framesPerTransfer + 1);
      expect(Math.abs(sent - accounted - early[i]!), `${r.name}: backlog at the end vs at frame ${FRAMES / 10} (${early[i]})`).toBeLessThanOrEqual(8);
      expect(t.gaps, r.name).toBeLessThanOrEqual(assembly.droppedFrames);
    }
    expect(bus.usage.holdings.filter((h) => h.altSetting !== 0)).toEqual([]);
  });

  it('unplugging one camera leaves the others streaming: only its queue ends, with ENXIO', async () => {
    const bus = new VirtualBus();
    const rigs = await rig(bus, 3);
    await Promise.all(rigs.map((r) => r.camera.queue.streamon()));
    const [a, b, c] = rigs as [Rig, Rig, Rig];
    const tallies = rigs.map(newTally);
    const disconnects: string[] = [];
    for (const r of rigs) r.camera.on('disconnect', () => disconnects.push(r.name));
    // B leaves once it has sent 1000 frames; A and C must then send 2000 more each.
    let goal = Infinity;
    const ended = await Promise.allSettled([
      consume(a, () => a.vcam.framesSent >= goal, tallies[0]!),
      consume(b, () => false, tallies[1]!, () => {
        if (b.vcam.framesSent < 1000 || !b.vcam.attached) return;
        goal = Math.max(a.vcam.framesSent, c.vcam.framesSent) + 2000;
        b.vcam.unplug();
      }),
      consume(c, () => c.vcam.framesSent >= goal, tallies[2]!),
    ]);
    expect(ended[0].status).toBe('fulfilled');
    expect(ended[2].status).toBe('fulfilled');
    expect(ended[1].status).toBe('rejected');
    expect(isUvcError((ended[1] as PromiseRejectedResult).reason, 'ENXIO')).toBe(true);
    expect(disconnects).toEqual(['B']);
    // The survivors streamed on well past the unplug, every frame their own; B's frames up to the unplug were B's.
    expect(Number.isFinite(goal)).toBe(true);
    expect(Math.min(a.vcam.framesSent, c.vcam.framesSent)).toBeGreaterThanOrEqual(goal);
    for (const t of tallies) expect(t.frames).toBeGreaterThan(10);
    for (const t of tallies) expect(t.foreign).toEqual([]);
    expect(a.camera.queue.streaming && c.camera.queue.streaming).toBe(true);
    expect(b.camera.queue.disconnected).toBe(true);
    // B's bandwidth is free (it was bulk: it held only its status endpoint), A's and C's still booked.
    expect(bus.usage.holdings.map((h) => `${h.device}:${h.interfaceNumber}/${h.altSetting}`)).toEqual(['A:0/0', 'A:1/6', 'C:0/0', 'C:1/4']);
  });
});
