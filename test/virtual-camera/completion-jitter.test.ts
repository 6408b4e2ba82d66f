/**
 * The completionJitterMs fault: replies reach the host late and in bursts, as through USB/IP, while the device
 * loses nothing; the host's idle-time count (missedIntervals) then reports losses that never happened, which is
 * what a driver reading its own clock sees over USB/IP (issue 12).
 */
import { describe, expect, it } from 'vitest';
import { decodeFrameStamp, VirtualCamera } from '../../src/virtual-camera/index.js';
import type { EndpointReply } from '../../src/transport/device-model.js';
import { enumerate, FrameCollector, isoSlots, negotiate, setInterface, VIDEO_EP, VS } from './helpers/raw-usb.js';

const W = 160;
const H = 120;

describe('completionJitterMs', () => {
  it('delivers iso replies late, in order and in bursts; the frames are whole; the host clock reports lost intervals', async () => {
    const camera = new VirtualCamera({ formats: [{ format: 'yuyv', frames: [{ width: W, height: H, fps: [30] }] }], faults: { completionJitterMs: 60 } });
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    // Ten requests of 32 microframes in flight (40 ms of bus time): a link that flushes every 0..60 ms (30 on
    // average) keeps up with the bus, and at times holds every request the host has.
    const collector = new FrameCollector();
    const replies: EndpointReply[] = [];
    const submit = () => {
      const { buffer, iso } = isoSlots(32, 3072);
      return camera.transfer({ endpoint: VIDEO_EP, buffer, iso }).then((reply) => ({ reply, buffer, iso }));
    };
    const queue = Array.from({ length: 10 }, submit);
    while (collector.frames.length < 30) {
      const { reply, buffer, iso } = await queue.shift()!;
      expect(reply.status).toBe('ok');
      replies.push(reply);
      for (let i = 0; i < iso.count; i++) collector.payload(buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + iso.actual[i]!));
      queue.push(submit());
    }
    await setInterface(camera, VS, 0);
    await Promise.allSettled(queue);

    // In order, back to back on the bus: each request starts where the previous one ended.
    for (let i = 1; i < replies.length; i++) expect((replies[i]!.startFrame - replies[i - 1]!.startFrame + 2048) % 2048).toBe(4);
    expect(replies.reduce((n, r) => n + (r.missedIntervals ?? 0), 0)).toBeGreaterThan(0);
    // Every frame whole and in order; the truth agrees: nothing damaged, nothing unheard.
    const frames = collector.frames.slice(1); // the first may have begun before the first request
    const stamps = frames.map((f) => decodeFrameStamp({ data: f.data, width: W, height: H, format: 'yuyv' }));
    for (const f of frames) expect(f.data.length).toBe(W * H * 2);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
    const sent = camera.sentFrames.filter((f) => f.status === 'sent');
    expect(sent.length).toBeGreaterThanOrEqual(frames.length);
    expect(sent.filter((f) => f.damaged || f.unheard)).toEqual([]);
  });
});
