/**
 * The guest's V4L2 side of a UVC device: which kernel driver bound its interfaces, which /dev/video* node is its
 * capture node, and the frames v4l2-ctl wrote (raw YUYV frames back to back, or MJPEG frames back to back).
 */
import { readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { waitFor } from './exec.js';

/** The driver bound to interface `config.interface` of a sysfs USB device, or undefined. */
export async function interfaceDriver(devicePath: string, interfaceNumber: number, configuration = 1): Promise<string | undefined> {
  const name = basename(devicePath);
  try {
    return basename(await readlink(`${devicePath}/${name}:${configuration}.${interfaceNumber}/driver`));
  } catch {
    return undefined;
  }
}

export function waitForDriver(devicePath: string, interfaceNumber: number, driver: string | undefined, timeoutMs = 120_000): Promise<true> {
  return waitFor(
    `interface ${interfaceNumber} of ${basename(devicePath)} to be ${driver === undefined ? 'unbound' : `bound to ${driver}`}`,
    async () => ((await interfaceDriver(devicePath, interfaceNumber)) === driver ? true : undefined),
    timeoutMs,
  );
}

export interface VideoNode {
  /** '/dev/video0' */
  path: string;
  name: string;
  /** The node's index within its device: 0 is uvcvideo's capture node, 1 its metadata node. */
  index: number;
}

/** The /dev/video* nodes whose parent is (an interface of) the USB device at `devicePath`. */
export async function videoNodesOf(devicePath: string): Promise<VideoNode[]> {
  const device = await realpath(devicePath);
  const nodes: VideoNode[] = [];
  let entries: string[] = [];
  try {
    entries = await readdir('/sys/class/video4linux');
  } catch {
    return nodes;
  }
  for (const entry of entries) {
    try {
      const parent = await realpath(`/sys/class/video4linux/${entry}/device`);
      if (parent !== device && !parent.startsWith(`${device}/`)) continue;
      const index = Number((await readFile(`/sys/class/video4linux/${entry}/index`, 'utf8')).trim());
      const name = (await readFile(`/sys/class/video4linux/${entry}/name`, 'utf8')).trim();
      nodes.push({ path: `/dev/${entry}`, name, index });
    } catch {
      // a node going away while we look
    }
  }
  return nodes.sort((a, b) => a.index - b.index);
}

/** Waits for the capture node (index 0) of the device, and for udev/devtmpfs to have made its /dev entry. */
export function waitForCaptureNode(devicePath: string, timeoutMs = 120_000): Promise<VideoNode> {
  return waitFor(
    `a /dev/video* capture node for ${basename(devicePath)}`,
    async () => {
      const node = (await videoNodesOf(devicePath)).find((n) => n.index === 0);
      if (node === undefined) return undefined;
      try {
        await readlink(node.path).catch(() => undefined);
        await readFile(`/sys/class/video4linux/${basename(node.path)}/dev`, 'utf8');
        const { access } = await import('node:fs/promises');
        await access(node.path);
        return node;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );
}

/**
 * Splits back-to-back JPEG images at their ends: walks the marker segments to SOS, then the entropy-coded data to
 * the first marker that is neither a stuffed 0xFF00 nor a restart marker (EOI). Throws on anything that is not a
 * sequence of complete JPEG images.
 */
export function splitJpegStream(data: Uint8Array): Uint8Array[] {
  const images: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    const start = at;
    if (data[at] !== 0xff || data[at + 1] !== 0xd8) throw new Error(`byte ${at}: expected SOI (FF D8), found ${hex(data[at])} ${hex(data[at + 1])}`);
    at += 2;
    for (;;) {
      if (at + 4 > data.length) throw new Error(`image at ${start} ends inside its headers`);
      if (data[at] !== 0xff) throw new Error(`byte ${at}: expected a marker, found ${hex(data[at])}`);
      const marker = data[at + 1]!;
      if (marker === 0xff) {
        at++; // fill byte
        continue;
      }
      const length = (data[at + 2]! << 8) | data[at + 3]!;
      at += 2 + length;
      if (marker === 0xda) break; // SOS: entropy-coded data follows
    }
    for (;;) {
      if (at + 1 >= data.length) throw new Error(`image at ${start} has no EOI`);
      if (data[at] === 0xff && data[at + 1] !== 0x00 && !(data[at + 1]! >= 0xd0 && data[at + 1]! <= 0xd7)) {
        if (data[at + 1] !== 0xd9) throw new Error(`image at ${start}: marker FF ${hex(data[at + 1])} inside the scan`);
        at += 2;
        break;
      }
      at++;
    }
    images.push(data.subarray(start, at));
  }
  return images;
}

function hex(b: number | undefined): string {
  return b === undefined ? 'end' : b.toString(16).padStart(2, '0');
}
