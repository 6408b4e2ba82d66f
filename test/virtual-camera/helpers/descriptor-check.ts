/**
 * An independent well-formedness checker for UVC configuration descriptors, written from the USB 2.0/3.x and
 * UVC 1.5 specifications for the virtual camera's tests (the project's parser will be cross-checked against it
 * separately). It throws on the first rule a descriptor set breaks and returns a summary otherwise.
 */

export interface CheckedFrame {
  index: number;
  width: number;
  height: number;
  intervals: number[] | { min: number; max: number; step: number };
  defaultInterval: number;
  maxFrameSize: number;
}

export interface CheckedFormat {
  index: number;
  subtype: number;
  fourcc: string | null;
  bitsPerPixel: number;
  defaultFrameIndex: number;
  frames: CheckedFrame[];
}

export interface CheckedAlt {
  alt: number;
  endpoint: number;
  attributes: number;
  wMaxPacketSize: number;
  bytesPerInterval: number;
}

export interface ConfigSummary {
  totalLength: number;
  interfaces: number[];
  bcdUVC: number;
  vcProtocol: number;
  vsProtocol: number;
  clockFrequency: number;
  entities: Map<number, { subtype: number; source: number[]; bytes: Uint8Array }>;
  statusEndpoint: { address: number; maxPacket: number; interval: number };
  inputHeader: { endpoint: number; terminalLink: number; bmaControls: number[] };
  formats: CheckedFormat[];
  alts: CheckedAlt[];
  bulkEndpoint: { address: number; maxPacket: number } | null;
}

class Fail extends Error {}

function need(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Fail(message);
}

const u16 = (d: Uint8Array, o: number) => d[o]! | (d[o + 1]! << 8);
const u32 = (d: Uint8Array, o: number) => (d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)) >>> 0;

export function splitDescriptors(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    const len = data[o]!;
    need(len >= 2, `descriptor at ${o} has bLength ${len}`);
    need(o + len <= data.length, `descriptor at ${o} (bLength ${len}) runs past the end (${data.length})`);
    out.push(data.subarray(o, o + len));
    o += len;
  }
  return out;
}

export function checkConfiguration(data: Uint8Array, speed: 'full' | 'high' | 'super', type = 0x02): ConfigSummary {
  const all = splitDescriptors(data);
  const cfg = all[0]!;
  need(cfg[1] === type && cfg[0] === 9, 'first descriptor is not a 9-byte configuration descriptor');
  need(u16(cfg, 2) === data.length, `wTotalLength ${u16(cfg, 2)} ≠ ${data.length} bytes`);
  need((cfg[7]! & 0x80) !== 0, 'bmAttributes bit 7 must be set');

  // Group by interface descriptor.
  interface Block {
    intf: Uint8Array;
    extra: Uint8Array[];
    endpoints: { ep: Uint8Array; companion: Uint8Array | null; extra: Uint8Array[] }[];
  }
  const blocks: Block[] = [];
  let iad: Uint8Array | null = null;
  for (const d of all.slice(1)) {
    const t = d[1]!;
    if (t === 0x0b) {
      need(d.length === 8, 'IAD must be 8 bytes');
      need(blocks.length === 0, 'the IAD must precede its interfaces');
      iad = d;
    } else if (t === 0x04) {
      need(d.length === 9, 'interface descriptor must be 9 bytes');
      blocks.push({ intf: d, extra: [], endpoints: [] });
    } else if (t === 0x05) {
      need(blocks.length > 0, 'endpoint before any interface');
      need(d.length === 7, 'endpoint descriptor must be 7 bytes');
      blocks[blocks.length - 1]!.endpoints.push({ ep: d, companion: null, extra: [] });
    } else if (t === 0x30) {
      const eps = blocks[blocks.length - 1]?.endpoints;
      need(speed === 'super', 'SuperSpeed companion outside SuperSpeed');
      need(eps !== undefined && eps.length > 0 && eps[eps.length - 1]!.companion === null, 'companion not right after an endpoint');
      need(d.length === 6, 'companion must be 6 bytes');
      eps[eps.length - 1]!.companion = d;
    } else {
      const b = blocks[blocks.length - 1];
      need(b !== undefined, `descriptor type 0x${t.toString(16)} before any interface`);
      if (b.endpoints.length > 0) b.endpoints[b.endpoints.length - 1]!.extra.push(d);
      else b.extra.push(d);
    }
  }
  for (const b of blocks) {
    need(b.intf[4] === b.endpoints.length, `interface ${b.intf[2]} alt ${b.intf[3]}: bNumEndpoints ${b.intf[4]} ≠ ${b.endpoints.length}`);
    if (speed === 'super') for (const e of b.endpoints) need(e.companion !== null, 'SuperSpeed endpoint without companion');
  }
  const numbers = [...new Set(blocks.map((b) => b.intf[2]!))];
  need(cfg[4] === numbers.length, `bNumInterfaces ${cfg[4]} ≠ ${numbers.length}`);
  for (const n of numbers) {
    const alts = blocks.filter((b) => b.intf[2] === n).map((b) => b.intf[3]!);
    need(alts[0] === 0, `interface ${n} must start with alt 0`);
    alts.forEach((a, i) => need(a === i, `interface ${n}: alt settings must be numbered 0…n in order`));
  }
  need(iad !== null, 'a UVC function needs an interface association descriptor');
  const vc = blocks.find((b) => b.intf[5] === 0x0e && b.intf[6] === 0x01)!;
  need(vc !== undefined, 'no VideoControl interface');
  const vsBlocks = blocks.filter((b) => b.intf[5] === 0x0e && b.intf[6] === 0x02);
  need(vsBlocks.length > 0, 'no VideoStreaming interface');
  need(iad[2] === vc.intf[2] && iad[3] === 2 && iad[4] === 0x0e && iad[5] === 0x03, 'IAD must cover VC + VS, class 0x0E/0x03');

  // VideoControl class-specific descriptors.
  const header = vc.extra[0]!;
  need(header[1] === 0x24 && header[2] === 0x01, 'VC header must come first');
  const inCollection = header[11]!;
  need(header.length === 12 + inCollection, 'VC header bLength ≠ 12 + bInCollection');
  const vcTotal = vc.extra.reduce((n, d) => n + d.length, 0);
  need(u16(header, 5) === vcTotal, `VC header wTotalLength ${u16(header, 5)} ≠ ${vcTotal}`);
  const vsNumber = vsBlocks[0]!.intf[2]!;
  need(inCollection === 1 && header[12] === vsNumber, 'baInterfaceNr must list the VS interface');
  const entities: ConfigSummary['entities'] = new Map();
  for (const d of vc.extra.slice(1)) {
    need(d[1] === 0x24, 'VC class-specific descriptors must be CS_INTERFACE');
    const subtype = d[2]!;
    const id = d[3]!;
    need(id !== 0 && !entities.has(id), `entity ID ${id} is zero or repeated`);
    let source: number[] = [];
    if (subtype === 0x02) {
      need(d.length >= 8, 'input terminal too short');
      if (u16(d, 4) === 0x0201) need(d.length === 15 + d[14]!, 'camera terminal bLength ≠ 15 + bControlSize');
    } else if (subtype === 0x03) {
      need(d.length === 9, 'output terminal must be 9 bytes');
      source = [d[7]!];
    } else if (subtype === 0x05) {
      const n = d[7]!;
      need(d.length === 9 + n || d.length === 10 + n, 'processing unit bLength ≠ 9/10 + bControlSize');
      source = [d[4]!];
    } else if (subtype === 0x06) {
      const p = d[21]!;
      const n = d[22 + p]!;
      need(d.length === 24 + p + n, 'extension unit bLength ≠ 24 + p + n');
      source = Array.from(d.subarray(22, 22 + p));
    } else {
      throw new Fail(`unexpected VC subtype ${subtype}`);
    }
    entities.set(id, { subtype, source, bytes: d });
  }
  for (const [id, e] of entities) for (const s of e.source) need(entities.has(s), `entity ${id} has unknown source ${s}`);
  need(vc.endpoints.length === 1, 'VC interface must have exactly the status endpoint');
  const status = vc.endpoints[0]!;
  need((status.ep[2]! & 0x80) !== 0 && (status.ep[3]! & 3) === 3, 'status endpoint must be interrupt IN');
  const csEp = status.extra[0];
  need(csEp !== undefined && csEp.length === 5 && csEp[1] === 0x25 && csEp[2] === 0x03, 'class-specific interrupt endpoint descriptor missing');
  need(speed === 'full' ? status.ep[6]! >= 1 : status.ep[6]! >= 1 && status.ep[6]! <= 16, 'status endpoint bInterval out of range');

  // VideoStreaming.
  const vs0 = vsBlocks[0]!;
  const input = vs0.extra[0]!;
  need(input[1] === 0x24 && input[2] === 0x01, 'VS input header must come first');
  const numFormats = input[3]!;
  const controlSize = input[12]!;
  need(input.length === 13 + numFormats * controlSize, 'input header bLength ≠ 13 + p × n');
  const vsTotal = vs0.extra.reduce((n, d) => n + d.length, 0);
  need(u16(input, 4) === vsTotal, `VS input header wTotalLength ${u16(input, 4)} ≠ ${vsTotal}`);
  const ot = entities.get(input[8]!);
  need(ot !== undefined && ot.subtype === 0x03, 'bTerminalLink must name an output terminal');
  const formats: CheckedFormat[] = [];
  let current: CheckedFormat | null = null;
  let expectedFrames = 0;
  for (const d of vs0.extra.slice(1)) {
    need(d[1] === 0x24, 'VS class-specific descriptors must be CS_INTERFACE');
    const subtype = d[2]!;
    if (subtype === 0x04 || subtype === 0x06) {
      need(current === null || current.frames.length === expectedFrames, 'previous format has fewer frames than it declared');
      need(subtype === 0x04 ? d.length === 27 : d.length === 11, 'format descriptor length');
      const fourcc = subtype === 0x04 ? String.fromCharCode(...d.subarray(5, 9)) : null;
      current = {
        index: d[3]!,
        subtype,
        fourcc,
        bitsPerPixel: subtype === 0x04 ? d[21]! : 0,
        defaultFrameIndex: subtype === 0x04 ? d[22]! : d[6]!,
        frames: [],
      };
      need(current.index === formats.length + 1, 'format indexes must run 1…n');
      expectedFrames = d[4]!;
      formats.push(current);
    } else if (subtype === 0x05 || subtype === 0x07) {
      need(current !== null && subtype === current.subtype + 1, 'frame descriptor of the wrong kind or before its format');
      const n = d[25]!;
      need(d.length === (n === 0 ? 38 : 26 + 4 * n), `frame bLength ${d.length} for bFrameIntervalType ${n}`);
      const intervals = n === 0 ? { min: u32(d, 26), max: u32(d, 30), step: u32(d, 34) } : Array.from({ length: n }, (_, i) => u32(d, 26 + 4 * i));
      const frame: CheckedFrame = {
        index: d[3]!,
        width: u16(d, 5),
        height: u16(d, 7),
        intervals,
        defaultInterval: u32(d, 21),
        maxFrameSize: u32(d, 17),
      };
      need(frame.index === current.frames.length + 1, 'frame indexes must run 1…n');
      need(u32(d, 9) <= u32(d, 13), 'dwMinBitRate > dwMaxBitRate');
      if (Array.isArray(intervals)) {
        for (let i = 1; i < intervals.length; i++) need(intervals[i]! > intervals[i - 1]!, 'discrete intervals must ascend');
        need(intervals.includes(frame.defaultInterval), 'dwDefaultFrameInterval is not one of the intervals');
      } else {
        need(intervals.min <= intervals.max && intervals.step > 0 && (intervals.max - intervals.min) % intervals.step === 0, 'bad continuous range');
        need(frame.defaultInterval >= intervals.min && frame.defaultInterval <= intervals.max, 'default interval outside the range');
      }
      if (current.subtype === 0x04) {
        need(frame.maxFrameSize === (frame.width * frame.height * current.bitsPerPixel) / 8, 'uncompressed dwMaxVideoFrameBufferSize ≠ w × h × bpp / 8');
      }
      current.frames.push(frame);
    } else if (subtype === 0x0d) {
      need(d.length === 6, 'colour matching descriptor must be 6 bytes');
      need(current !== null && current.frames.length === expectedFrames, 'colour matching before the format is complete');
    } else {
      throw new Fail(`unexpected VS subtype ${subtype}`);
    }
  }
  need(current !== null && current.frames.length === expectedFrames, 'last format has fewer frames than it declared');
  need(formats.length === numFormats, `bNumFormats ${numFormats} ≠ ${formats.length}`);
  for (const f of formats) need(f.defaultFrameIndex >= 1 && f.defaultFrameIndex <= f.frames.length, 'bDefaultFrameIndex out of range');

  const alts: CheckedAlt[] = [];
  let bulkEndpoint: ConfigSummary['bulkEndpoint'] = null;
  if (vs0.endpoints.length === 1) {
    const e = vs0.endpoints[0]!.ep;
    need((e[3]! & 3) === 2, 'an endpoint on VS alt 0 must be bulk');
    need(e[2] === input[6], 'input header bEndpointAddress ≠ the bulk endpoint');
    const mps = u16(e, 4);
    need(mps === (speed === 'full' ? 64 : speed === 'high' ? 512 : 1024), `bulk wMaxPacketSize ${mps} is not the ${speed}-speed size`);
    need(vsBlocks.length === 1, 'a bulk VS interface has only alt 0');
    bulkEndpoint = { address: e[2]!, maxPacket: mps };
  } else {
    need(vs0.endpoints.length === 0, 'iso VS alt 0 must have no endpoint (zero bandwidth)');
    need(vsBlocks.length > 1, 'iso VS interface needs alt settings');
  }
  for (const b of vsBlocks.slice(1)) {
    need(b.endpoints.length === 1, 'each iso alt setting has one endpoint');
    const { ep, companion } = b.endpoints[0]!;
    need((ep[3]! & 3) === 1, 'alt setting endpoint must be isochronous');
    need(ep[2] === input[6], 'input header bEndpointAddress ≠ the iso endpoint');
    need(ep[6] === 1, 'iso bInterval must be 1 here');
    const w = u16(ep, 4);
    const size = w & 0x7ff;
    const mult = (w >> 11) & 3;
    let bpi: number;
    if (speed === 'full') {
      need(size <= 1023 && mult === 0, 'full-speed iso packets are at most 1023 bytes');
      bpi = size;
    } else if (speed === 'high') {
      need(size <= 1024 && mult <= 2, 'high-speed iso packets are at most 3 × 1024');
      if (mult === 1) need(size >= 513, '2 transactions need packets of 513–1024 bytes');
      if (mult === 2) need(size >= 683, '3 transactions need packets of 683–1024 bytes');
      bpi = size * (mult + 1);
    } else {
      need(size === 1024 && companion !== null, 'SuperSpeed iso packets are 1024 bytes with a companion');
      const burst = companion[2]!;
      const ssMult = companion[3]! & 3;
      bpi = u16(companion, 4);
      need(burst <= 15 && ssMult <= 2 && bpi <= 1024 * (burst + 1) * (ssMult + 1), 'companion wBytesPerInterval too large');
    }
    alts.push({ alt: b.intf[3]!, endpoint: ep[2]!, attributes: ep[3]!, wMaxPacketSize: w, bytesPerInterval: bpi });
  }
  return {
    totalLength: data.length,
    interfaces: numbers,
    bcdUVC: u16(header, 3),
    vcProtocol: vc.intf[7]!,
    vsProtocol: vs0.intf[7]!,
    clockFrequency: u32(header, 7),
    entities,
    statusEndpoint: { address: status.ep[2]!, maxPacket: u16(status.ep, 4), interval: status.ep[6]! },
    inputHeader: { endpoint: input[6]!, terminalLink: input[8]!, bmaControls: Array.from(input.subarray(13)) },
    formats,
    alts,
    bulkEndpoint,
  };
}
