import { describe, expect, it } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import { decodeStatusPacket } from '../../src/uvc/status.js';

describe('decodeStatusPacket', () => {
  it('decodes control changes of every attribute', () => {
    expect(decodeStatusPacket(Uint8Array.of(0x01, 0x02, 0x00, 0x0a, 0x00, 0x88, 0x13))).toEqual({
      type: 'control',
      originator: 2,
      selector: 0x0a,
      attribute: 'value',
      value: Uint8Array.of(0x88, 0x13),
    });
    const attributes = [0, 1, 2, 3, 4].map((a) => decodeStatusPacket(Uint8Array.of(1, 1, 0, 4, a, 9)));
    expect(attributes.map((e) => e.type === 'control' && e.attribute)).toEqual(['value', 'info', 'failure', 'min', 'max']);
    // the status type is the low nibble (uvcvideo masks it too)
    expect(decodeStatusPacket(Uint8Array.of(0xf1, 1, 0, 4, 0))).toMatchObject({ type: 'control', value: new Uint8Array(0) });
  });

  it('decodes the streaming interface button', () => {
    expect(decodeStatusPacket(Uint8Array.of(0x02, 0x01, 0x00, 0x01))).toEqual({ type: 'button', interfaceNumber: 1, pressed: true });
    expect(decodeStatusPacket(Uint8Array.of(0x02, 0x01, 0x00, 0x00))).toEqual({ type: 'button', interfaceNumber: 1, pressed: false });
  });

  it('reserved types, events and attributes come back as typed unknown events', () => {
    expect(decodeStatusPacket(Uint8Array.of(0x03, 1, 0, 0))).toMatchObject({ type: 'unknown', statusType: 3, reason: 'reserved status type 0x3' });
    expect(decodeStatusPacket(Uint8Array.of(0x01, 1, 0x05, 2, 0))).toMatchObject({ type: 'unknown', event: 5 });
    expect(decodeStatusPacket(Uint8Array.of(0x01, 1, 0, 2, 0x09))).toMatchObject({ type: 'unknown', reason: 'reserved control change attribute 0x09' });
    expect(decodeStatusPacket(Uint8Array.of(0x02, 1, 0x01, 1))).toMatchObject({ type: 'unknown', reason: 'reserved VideoStreaming event 0x01' });
  });

  it('malformed packets are EINVAL, nothing else, for every short or random input', () => {
    for (const bytes of [[], [1], [1, 2], [1, 2, 0], [1, 2, 0, 3], [2, 1, 0]]) {
      expect(() => decodeStatusPacket(Uint8Array.from(bytes))).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^status packet of/) }));
    }
    expect(() => decodeStatusPacket('x' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    let seed = 1;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const bytes = Uint8Array.from({ length: seed % 12 }, (_, j) => (seed >>> (j % 24)) & 0xff);
      try {
        const event = decodeStatusPacket(bytes);
        expect(['control', 'button', 'unknown']).toContain(event.type);
      } catch (error) {
        expect(isUvcError(error, 'EINVAL')).toBe(true);
      }
    }
  });
});
