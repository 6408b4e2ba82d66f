import { describe, expect, it } from 'vitest';
import { HeaderProblem, checkPayloadHeader, parsePayloadHeader, requiredHeaderLength } from '../../src/stream/payload-header.js';
import { header } from './helpers/transfers.js';

describe('payload header', () => {
  it('parses FID, EOF, ERR, STI, PTS and SCR', () => {
    const bytes = header({ fid: 1, eof: true, err: true, still: true, pts: 0xdeadbeef, scr: { stc: 0x01020304, sof: 0x7ff } });
    expect(parsePayloadHeader(bytes)).toEqual({
      headerLength: 12,
      info: bytes[1],
      fid: 1,
      eof: true,
      still: true,
      error: true,
      eoh: true,
      pts: 0xdeadbeef,
      scr: { stc: 0x01020304, sof: 0x7ff },
    });
    expect(parsePayloadHeader(header({ scr: { stc: 5, sof: 6 } })).scr).toEqual({ stc: 5, sof: 6 });
  });

  it('knows the lengths the PTS and SCR bits call for', () => {
    expect(requiredHeaderLength(0x80)).toBe(2);
    expect(requiredHeaderLength(0x84)).toBe(6);
    expect(requiredHeaderLength(0x88)).toBe(8);
    expect(requiredHeaderLength(0x8c)).toBe(12);
  });

  it('names every problem', () => {
    const check = (bytes: number[], length = bytes.length, requireEoh = false) => checkPayloadHeader(Uint8Array.from(bytes), 0, length, requireEoh);
    expect(check([2], 1)).toBe(HeaderProblem.TRUNCATED);
    expect(check([0, 0x80])).toBe(HeaderProblem.LENGTH_TOO_SMALL);
    expect(check([6, 0x80, 0, 0])).toBe(HeaderProblem.LENGTH_EXCEEDS_PACKET);
    expect(check([13, 0x80, ...new Array<number>(11).fill(0)])).toBe(HeaderProblem.LENGTH_TOO_LARGE);
    expect(check([8, 0x8c, 0, 0, 0, 0, 0, 0])).toBe(HeaderProblem.FIELDS_DO_NOT_FIT);
    expect(check([4, 0x00, 0, 0])).toBe(HeaderProblem.NO_EOH); // no EOH and 2 bytes too many
    expect(check([2, 0x00])).toBe(2); // no EOH, exact
    expect(check([2, 0x00], 2, true)).toBe(HeaderProblem.NO_EOH);
    expect(check([4, 0x80, 0, 0])).toBe(4); // EOH set: padding is allowed
    expect(() => parsePayloadHeader(Uint8Array.of(0, 0x80))).toThrow(/bHeaderLength below 2/);
  });
});
