/** Where the copied real-device fixtures live and how to read them (see test/fixtures/descriptors/PROVENANCE.md). */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DESCRIPTOR_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'descriptors');

export function fixturePath(name: string): string {
  return join(DESCRIPTOR_FIXTURES, name);
}

export function readText(name: string): string {
  return readFileSync(fixturePath(name), 'latin1');
}

export function readBinary(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

/** A `.hex` fixture: bytes as hex pairs separated by white space. */
export function readHex(name: string): Uint8Array {
  const pairs = readText(name).split(/\s+/).filter((t) => t.length > 0);
  const bytes = new Uint8Array(pairs.length);
  pairs.forEach((pair, i) => {
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) throw new Error(`${name}: '${pair}' is not a hex byte`);
    bytes[i] = parseInt(pair, 16);
  });
  return bytes;
}

export function listFixtures(pattern: RegExp): string[] {
  return readdirSync(DESCRIPTOR_FIXTURES).filter((f) => pattern.test(f)).sort();
}

/** Every configuration descriptor we have as bytes: the `.cfg_desc.hex` files and the old C980 dump. */
export function configurationFixtures(): string[] {
  return listFixtures(/(\.cfg_desc\.hex|C980\.hex)$/);
}
