/**
 * The libuvc `lsusb -v` dumps: the configuration bytes are rebuilt from the printed fields (lsusb omits only the
 * class-specific interrupt endpoint descriptor), parsed, and the parse compared with what the text says.
 */
import { describe, expect, it } from 'vitest';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { project } from './helpers/expected-model.js';
import { listFixtures, readText } from './helpers/fixtures.js';
import { expectedFromLsusb, rebuildConfiguration } from './helpers/lsusb.js';

const dumps = listFixtures(/^libuvc_.*\.lsusb\.txt$/);

describe('descriptors against lsusb -v dumps', () => {
  it('has the dumps', () => {
    expect(dumps.length).toBe(5);
  });

  for (const dump of dumps) {
    describe(dump.replace(/\.lsusb\.txt$/, ''), () => {
      const text = readText(dump);

      it('rebuilds to wTotalLength bytes and parses to what lsusb says', () => {
        const bytes = rebuildConfiguration(text);
        const parsed = parseUvcDescriptors(bytes);
        expect(bytes.length).toBe(parsed.configuration.totalLength);
        expect(project(parsed)).toEqual(expectedFromLsusb(text));
      });
    });
  }

  it('reads a processing unit lsusb flags "too short" without the bmVideoStandards lsusb invents', () => {
    // lsusb prints a bmVideoStandards from the next descriptor's first byte; the descriptor (UVC 1.0, 11 bytes) has none
    const parsed = parseUvcDescriptors(rebuildConfiguration(readText('libuvc_ms_lifecam_show.lsusb.txt')));
    const pu = parsed.videoControl.entities.find((e) => e.type === 'processing-unit');
    expect(pu?.type === 'processing-unit' && pu.videoStandards).toBe(null);
  });
});
