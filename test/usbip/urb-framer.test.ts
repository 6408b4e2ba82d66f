import { describe, expect, it } from 'vitest';
import { UrbFramer } from '../../src/usbip/urb-framer.js';

/** Messages of the test: a 48-byte header whose first u32 is an id and whose second u32 is the body length. */
function message(id: number, bodyLength: number): Buffer {
  const b = Buffer.alloc(48 + bodyLength);
  b.writeUInt32BE(id, 0);
  b.writeUInt32BE(bodyLength, 4);
  for (let i = 0; i < bodyLength; i++) b[48 + i] = (id + i) & 0xff;
  return b;
}

function collect(): { framer: UrbFramer; got: { id: number; body: Buffer }[] } {
  const got: { id: number; body: Buffer }[] = [];
  const framer = new UrbFramer(
    (h, at) => h.readUInt32BE(at + 4),
    (h, at, body) => got.push({ id: h.readUInt32BE(at), body: Buffer.from(body) }),
  );
  return { framer, got };
}

describe('UrbFramer', () => {
  const stream = Buffer.concat([message(1, 0), message(2, 5), message(3, 1000), message(4, 0), message(5, 70000)]);

  it('splits a stream delivered in one chunk', () => {
    const { framer, got } = collect();
    framer.push(stream);
    expect(got.map((m) => [m.id, m.body.length])).toEqual([
      [1, 0],
      [2, 5],
      [3, 1000],
      [4, 0],
      [5, 70000],
    ]);
    expect(got[2]!.body.equals(message(3, 1000).subarray(48))).toBe(true);
  });

  it('gives the same messages whatever the chunking, byte by byte included', () => {
    for (const size of [1, 7, 47, 48, 49, 100, 4096]) {
      const { framer, got } = collect();
      for (let at = 0; at < stream.length; at += size) framer.push(stream.subarray(at, at + size));
      expect(got.map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
      expect(got[4]!.body.equals(message(5, 70000).subarray(48))).toBe(true);
      expect(framer.midMessage).toBe(false);
    }
  });

  it('reports a partly received message', () => {
    const { framer, got } = collect();
    framer.push(message(9, 10).subarray(0, 50));
    expect(got).toEqual([]);
    expect(framer.midMessage).toBe(true);
  });

  it('lets the body-length callback reject the stream', () => {
    const framer = new UrbFramer(
      () => {
        throw new Error('bad header');
      },
      () => undefined,
    );
    expect(() => framer.push(Buffer.alloc(48))).toThrow('bad header');
  });
});
