/**
 * The real stack end to end: libusb → usbfs → usbcore → vhci_hcd → USB/IP → our server → the pattern device.
 * Control IN/OUT/STALL, bulk IN (many in flight) and OUT, interrupt IN and endpoint halt through Node's `usb`;
 * isochronous IN at every high-bandwidth setting through rig/tools/iso-reader (libusb in C), with every byte
 * of every packet verified.
 */
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { startIsoReader } from '../lib/iso-reader.js';
import {
  claim,
  clearHalt,
  controlIn,
  controlOut,
  errnoOf,
  inEndpoint,
  openDevice,
  outEndpoint,
  readIn,
  release,
  stringDescriptor,
  transferStatusName,
  writeOut,
} from '../lib/node-usb.js';
import {
  FNV_OFFSET,
  INTERRUPT_REPORT_SIZE,
  PATTERN_PID,
  PATTERN_PRODUCT,
  PATTERN_SERIAL,
  PATTERN_VID,
  PatternEndpoint,
  PatternRequest,
  fillBulkStream,
  echoByte,
  fnv1a,
} from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';

export const timeoutMs = 180_000;

const VENDOR_IN = 0xc0;
const VENDOR_OUT = 0x40;

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: PATTERN_DEVICE_MODULE });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    const device = await openDevice(PATTERN_VID, PATTERN_PID);

    // Control transfers.
    assertEqual(await stringDescriptor(device, 2), PATTERN_PRODUCT, 'product string');
    assertEqual(await stringDescriptor(device, 3), PATTERN_SERIAL, 'serial string');
    const echo = await controlIn(device, VENDOR_IN, PatternRequest.ECHO, 0x1234, 0, 300);
    assertEqual(echo.length, 300, 'ECHO length');
    for (let i = 0; i < echo.length; i++) assertEqual(echo[i], echoByte(0x1234, i), `ECHO byte ${i}`);
    const note = Buffer.from('control OUT through vhci_hcd and back');
    await controlOut(device, VENDOR_OUT, PatternRequest.STORE, 0, 0, note);
    assertEqual((await controlIn(device, VENDOR_IN, PatternRequest.STORE, 0, 0, 64)).toString(), note.toString(), 'STORE round trip');
    const stall = await controlIn(device, VENDOR_IN, 0x7f, 0, 0, 8).then(() => undefined, errnoOf);
    assertEqual(transferStatusName(stall), 'STALL', 'unknown request');
    ctx.log('control: strings, 300-byte IN, OUT/IN round trip, STALL: ok');

    // Bulk IN: sequential large reads, then a poll with several transfers in flight.
    const iface0 = claim(device, 0);
    const bulkIn = inEndpoint(iface0, PatternEndpoint.BULK_IN);
    let position = 0;
    const t0 = performance.now();
    const expectStream = (data: Buffer, what: string): void => {
      const expected = Buffer.alloc(data.length);
      fillBulkStream(expected, position);
      if (!data.equals(expected)) {
        const at = data.findIndex((b, i) => b !== expected[i]);
        throw new Error(`${what}: stream byte ${position + at} is ${data[at]}, expected ${expected[at]}`);
      }
      position += data.length;
    };
    for (let k = 0; k < 16; k++) {
      const data = await readIn(bulkIn, 65536);
      assertEqual(data.length, 65536, 'bulk IN length');
      expectStream(data, 'bulk IN');
    }
    const seconds = (performance.now() - t0) / 1000;
    ctx.log(`bulk IN: 1 MiB in 64 KiB reads verified (${(position / seconds / 1e6).toFixed(2)} MB/s)`);
    await new Promise<void>((resolve, reject) => {
      let received = 0;
      let stopping = false;
      bulkIn.on('data', (data: Buffer) => {
        if (stopping) return; // transfers still in flight when polling stops: not part of the count
        try {
          expectStream(data, 'polled bulk IN');
        } catch (err) {
          stopping = true;
          bulkIn.stopPoll(() => reject(err));
          return;
        }
        received += data.length;
        if (received >= 1 << 20) {
          stopping = true;
          bulkIn.stopPoll(() => resolve());
        }
      });
      bulkIn.on('error', (err) => {
        stopping = true;
        reject(err);
      });
      bulkIn.startPoll(4, 16384);
    });
    bulkIn.removeAllListeners('data');
    bulkIn.removeAllListeners('error');
    ctx.log('bulk IN: 1 MiB more with 4 transfers in flight, in order');

    // Bulk OUT: every byte arrives, in order (the device hashes what it got).
    const bulkOut = outEndpoint(iface0, PatternEndpoint.BULK_OUT);
    let hash = FNV_OFFSET;
    let sent = 0;
    for (const size of [65536, 512, 1, 100000, 4096]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 31 + size) & 0xff;
      await writeOut(bulkOut, data);
      hash = fnv1a(hash, data);
      sent += size;
    }
    const stats = await controlIn(device, VENDOR_IN, PatternRequest.STATS, 0, 0, 8);
    assertEqual(stats.readUInt32LE(0), sent, 'bytes the device received on bulk OUT');
    assertEqual(stats.readUInt32LE(4), hash, 'hash of the bulk OUT data');
    ctx.log(`bulk OUT: ${sent} bytes arrived intact`);

    // Interrupt IN: reports in sequence, paced by bInterval.
    const interrupt = inEndpoint(iface0, PatternEndpoint.INTERRUPT_IN);
    let lastFrame = -1;
    for (let seq = 0; seq < 20; seq++) {
      const report = await readIn(interrupt, INTERRUPT_REPORT_SIZE);
      assertEqual(report.length, INTERRUPT_REPORT_SIZE, 'report length');
      assertEqual(report.readUInt32LE(0), seq, 'report sequence');
      for (let i = 8; i < INTERRUPT_REPORT_SIZE; i++) assertEqual(report[i], (seq + i) & 0xff, `report ${seq} byte ${i}`);
      const frame = report.readUInt32LE(4);
      assert(frame >= lastFrame + 8, `reports closer than bInterval: frame ${frame} after ${lastFrame}`);
      lastFrame = frame;
    }
    ctx.log('interrupt IN: 20 reports in sequence, at most one per millisecond');

    // Halt: the endpoint stalls until CLEAR_FEATURE(ENDPOINT_HALT).
    await controlOut(device, VENDOR_OUT, PatternRequest.HALT, 0, PatternEndpoint.BULK_IN, Buffer.alloc(0));
    const halted = await readIn(bulkIn, 512).then(() => undefined, errnoOf);
    assertEqual(transferStatusName(halted), 'STALL', 'bulk IN on a halted endpoint');
    await clearHalt(bulkIn);
    assertEqual((await readIn(bulkIn, 512)).length, 512, 'bulk IN after clear halt');
    ctx.log('halt: STALL, then clear halt, then data again');
    await release(iface0);
    device.close();

    // Isochronous IN at 1, 2 and 3 × 1024 bytes per microframe.
    for (const alt of [1, 2, 3]) {
      const r = await startIsoReader({ toolsDir: ctx.toolsDir, alt, transfers: 4, packets: 32, count: 60 }).done;
      ctx.log(`iso alt ${alt}: ${r.lines.filter((l) => l.startsWith('completed=')).join('')} → ${r.result}`);
      assert(r.ok, `iso IN alt ${alt}: ${r.result}\n${r.lines.join('\n')}`);
      assert((r.values.packets_ok ?? 0) > 1000, `iso IN alt ${alt}: only ${r.values.packets_ok} verified packets`);
      assert((r.values.packets_empty ?? 0) > 0, `iso IN alt ${alt}: no empty packet went through`);
    }
    const s = await served.stats();
    ctx.log(`server stats: ${JSON.stringify(s.session)}`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
