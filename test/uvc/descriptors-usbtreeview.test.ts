/**
 * Every configuration that has a USB Device Tree Viewer decode next to it: our parse of the `.hex` must see what
 * the decode's labelled fields say (formats, every frame and interval, alt settings and their bandwidth, units and
 * their controls). The expectations are read from the decode text, never transcribed by hand.
 */
import { describe, expect, it } from 'vitest';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { project } from './helpers/expected-model.js';
import { listFixtures, readHex, readText } from './helpers/fixtures.js';
import { configurationSections, expectedFromUsbTreeView } from './helpers/usbtreeview.js';

const decodes = listFixtures(/\.usbtreeview\.txt$/);

describe('descriptors against USB Device Tree Viewer decodes', () => {
  it('has the decodes', () => {
    expect(decodes.length).toBe(10);
  });

  for (const decode of decodes) {
    const device = decode.replace(/\.usbtreeview\.txt$/, '');
    describe(device, () => {
      const text = readText(decode);
      const bytes = readHex(`${device}.cfg_desc.hex`);

      it('the decode describes the same bytes as the .hex', () => {
        const sections = configurationSections(text);
        const whole = sections[0]!.data;
        // The configuration section dumps all wTotalLength bytes. esp_customer's .hex is one byte short inside its
        // last descriptor (an audio endpoint: 07 25 01 01 01 00 where the decode has 07 25 01 01 01 01 00); every
        // byte before that descriptor is the same.
        const comparable = device === 'esp_customer' ? 477 : bytes.length;
        if (device === 'esp_customer') expect(bytes.length).toBe(whole.length - 1);
        else expect(bytes.length).toBe(whole.length);
        expect(Array.from(bytes.subarray(0, comparable))).toEqual(whole.slice(0, comparable));
        const pieces = [...whole.slice(0, 9), ...sections.slice(1).flatMap((s) => s.data)];
        expect(pieces).toEqual(whole);
      });

      it('parses to what the decode says', () => {
        const parsed = parseUvcDescriptors(bytes);
        const expected = expectedFromUsbTreeView(text);
        if (device === 'esp_customer') {
          // the lost byte cut the last (audio) descriptor: nothing of the video function is missing
          expect(parsed.configuration.parsedLength).toBe(bytes.length - 6);
        }
        expect(project(parsed)).toEqual(expected);
        expect(parsed.uvcVersion).toMatch(/^1\.[015]0$/);
      });
    });
  }
});
