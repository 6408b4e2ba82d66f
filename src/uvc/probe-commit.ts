/**
 * Stream negotiation: probe (the host proposes, the device counter-offers), commit (the host accepts), and the
 * alt setting that carries the result.
 *
 * The sequence follows uvcvideo (uvc_video_init, uvc_probe_video, uvc_commit_video) with these choices:
 * - Block length: what the device really accepts. UVC 1.0 devices get 26 bytes. From 1.1 on GET_LEN(PROBE) is
 *   asked and believed when it answers 26…48; else the length bcdUVC implies (34, 48). A device that stalls a
 *   longer SET_CUR without a better reason (no error code, "invalid request") is retried with the next shorter
 *   standard length, and a device whose answers are shorter (but at least 26 bytes) is spoken to at that length.
 * - The proposal starts from the device's GET_DEF block (falling back to GET_CUR, then to zeros), so fields the
 *   host does not choose (1.1 framing, 1.5 usage…) keep values the device likes; bmHint asks to keep the interval.
 * - GET_MIN/GET_MAX are asked as uvcvideo does: the best quality (GET_MAX wCompQuality) first; when the answer
 *   needs more bandwidth than the interface has, one more round with the minimum compression parameters. A device
 *   that refuses GET_MIN/MAX (or answers only wCompQuality, as Bison chipsets do) is tolerated.
 * - The device's answer goes through uvcvideo's fix-ups (probe-fixups.ts); what was changed is in `fixups`.
 * - Quirks (quirks.ts) are applied when the camera has them and learnt when it shows them: a GET_DEF that names no
 *   mode the interface describes (probe-def: start from GET_CUR, and do not ask GET_DEF again), a GET_MIN that stalls
 *   (probe-minmax: stop asking; too much bandwidth is then ENOSPC, as uvcvideo does), a UVC 1.0 camera that stalls
 *   the 26-byte block but takes 34 (probe-extrafields), a 2-byte GET_MIN/GET_MAX (minmax-comp-quality-only).
 * - The alt setting is the smallest whose bytes per interval cover dwMaxPayloadTransferSize (bulk: alt 0). When none
 *   does: ENOSPC, naming a mode that would fit.
 * The caller owns the interface (claims it) and selects the alt setting when streaming starts.
 */
import { isUvcError, UvcError } from '../errors.js';
import type { UsbSpeed } from '../spec/usb.js';
import { PROBE_LENGTH_UVC10, PROBE_LENGTH_UVC11, PROBE_LENGTH_UVC15, ProbeHint, VsControl } from '../spec/uvc.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import { chooseAltSetting, largestBytesPerInterval, suggestFittingMode } from './bandwidth.js';
import type { FormatKind, TransferType, UvcFunction, VideoFormat, VideoFrame, VideoStreamingInterface } from './descriptors/model.js';
import { selectFormat, type FormatRequest, type FormatSelection } from './format-selection.js';
import { decodeProbeControl, emptyProbeControl, encodeProbeControl, probeLengthForVersion, type ProbeControl } from './probe-block.js';
import { clampOversized, fixupProbeControl } from './probe-fixups.js';
import { DeviceQuirks } from './quirks.js';
import { GET_REQUEST, getControl, setControl, type ControlAddress } from './requests.js';

/** Everything the streaming layer needs about a negotiated stream. */
export interface StreamParameters {
  /** The VideoStreaming interface to claim and stream on. */
  interfaceNumber: number;
  endpointAddress: number;
  transferType: TransferType;
  /** The alt setting to select when streaming starts (bulk: 0). */
  altSetting: number;
  /** Bytes per service interval of that alt setting (the iso packet size to reserve); bulk: wMaxPacketSize. */
  bytesPerInterval: number;
  format: { index: number; kind: FormatKind; fourcc: string | null; guid: string | null; bitsPerPixel: number };
  frame: { index: number; width: number; height: number };
  /** 100 ns units, as the device committed it. */
  interval: number;
  fps: number;
  dwMaxVideoFrameSize: number;
  dwMaxPayloadTransferSize: number;
  /** Hz: the probe's dwClockFrequency (UVC 1.1+) or the VideoControl header's. */
  dwClockFrequency: number;
  /** bmFramingInfo (UVC 1.1+); null when the block has none (then FID and EOF behave as in UVC 1.0). */
  bmFramingInfo: number | null;
  /** The block the device offered and that is (or will be) committed, as it sent it. */
  block: Uint8Array;
  /** The decoded block after the fix-ups. */
  control: ProbeControl;
  bcdUVC: number;
  speed: UsbSpeed;
  /** What was corrected or worked around, for logs. */
  fixups: string[];
  committed: boolean;
}

export interface NegotiationOptions {
  /** Per request; default 5000 ms (uvcvideo's streaming control timeout). */
  timeoutMs?: number;
  /** Bus speed for the bandwidth estimate; default the transport's ('unknown' counts as high speed). */
  speed?: UsbSpeed;
  /** The camera's quirks: applied, and added to when the camera shows one. */
  quirks?: DeviceQuirks;
}

function speedOf(transport: UsbTransport, options: NegotiationOptions): UsbSpeed {
  const speed = options.speed ?? transport.info.speed;
  return speed === 'unknown' ? 'high' : speed;
}

function shorterLength(length: number): number | null {
  if (length > PROBE_LENGTH_UVC11) return PROBE_LENGTH_UVC11;
  if (length > PROBE_LENGTH_UVC10) return PROBE_LENGTH_UVC10;
  return null;
}

/** A stall that may mean "wrong length" rather than "wrong value". */
function lengthMayBeWrong(error: unknown): boolean {
  if (!isUvcError(error)) return false;
  if (error.code !== 'EPIPE' && error.code !== 'EINVAL') return false;
  const requestError = error.details.requestError as { code: number } | null | undefined;
  return requestError === undefined || requestError === null || requestError.code === 0 || requestError.code === 0x07;
}

class Negotiation {
  readonly fixups: string[] = [];
  readonly probeAddress: ControlAddress;
  length: number;
  /** Why the last tryGet() came back empty (a stall, a timeout...). */
  lastRefusal: unknown = null;
  private triedLonger = false;

  constructor(
    readonly transport: UsbTransport,
    readonly fn: UvcFunction,
    readonly streaming: VideoStreamingInterface,
    readonly timeoutMs: number,
    readonly quirks: DeviceQuirks,
  ) {
    this.probeAddress = { interfaceNumber: streaming.interfaceNumber, entityId: 0, selector: VsControl.PROBE };
    this.length = probeLengthForVersion(fn.bcdUVC);
    if (quirks.has('probe-extrafields') && this.length < PROBE_LENGTH_UVC11) {
      this.fixups.push(`probe-extrafields: a ${PROBE_LENGTH_UVC11}-byte probe block for this UVC ${fn.uvcVersion} camera`);
      this.length = PROBE_LENGTH_UVC11;
      this.triedLonger = true;
    }
  }

  options(label: string): { timeoutMs: number; errorCodeInterface: number; label: string } {
    return { timeoutMs: this.timeoutMs, errorCodeInterface: this.fn.videoControl.interfaceNumber, label };
  }

  /** GET_LEN(PROBE) for UVC 1.1+; quiet: a refusal is normal. */
  async discoverLength(): Promise<void> {
    if (this.fn.bcdUVC < 0x0110) return;
    try {
      const bytes = await getControl(this.transport, this.probeAddress, GET_REQUEST.GET_LEN, 2, { timeoutMs: this.timeoutMs });
      if (bytes.length < 2) return;
      const length = bytes[0]! | (bytes[1]! << 8);
      if (length >= PROBE_LENGTH_UVC10 && length <= PROBE_LENGTH_UVC15) {
        if (length !== this.length) this.fixups.push(`probe block is ${length} bytes by GET_LEN (bcdUVC ${this.fn.uvcVersion} implies ${this.length})`);
        this.length = length;
      }
    } catch (error) {
      if (isUvcError(error, 'ENODEV')) throw error;
    }
  }

  /** A GET of the probe control, tolerated (null, the reason in lastRefusal); ENODEV and EBADF propagate. */
  async tryGet(request: 'GET_DEF' | 'GET_CUR' | 'GET_MIN' | 'GET_MAX'): Promise<Uint8Array | null> {
    this.lastRefusal = null;
    try {
      const bytes = await getControl(this.transport, this.probeAddress, GET_REQUEST[request], this.length, { timeoutMs: this.timeoutMs });
      return bytes;
    } catch (error) {
      if (isUvcError(error, 'ENODEV') || isUvcError(error, 'EBADF')) throw error;
      this.lastRefusal = error;
      return null;
    }
  }

  adoptShorterAnswer(bytes: Uint8Array, request: string): void {
    if (bytes.length >= PROBE_LENGTH_UVC10 && bytes.length < this.length) {
      this.fixups.push(`the device answers ${request}(PROBE) with ${bytes.length} bytes where bcdUVC ${this.fn.uvcVersion} implies ${this.length}; using ${bytes.length}`);
      this.length = bytes.length;
    }
  }

  /**
   * SET_CUR(PROBE); a stall without a better reason is retried with a shorter standard block, or, for a UVC 1.0
   * camera refusing its 26 bytes, once with the 34-byte block it may really want (probe-extrafields).
   */
  async setProbe(control: ProbeControl): Promise<void> {
    for (;;) {
      try {
        await setControl(this.transport, this.probeAddress, encodeProbeControl(control, this.length), this.options('VS probe'));
        return;
      } catch (error) {
        if (!lengthMayBeWrong(error)) throw error;
        if (this.length === PROBE_LENGTH_UVC10 && this.fn.bcdUVC < 0x0110 && !this.triedLonger) {
          this.triedLonger = true;
          this.length = PROBE_LENGTH_UVC11;
          this.fixups.push(`the UVC ${this.fn.uvcVersion} camera refuses the 26-byte probe block; trying ${PROBE_LENGTH_UVC11} bytes`);
          this.quirks.detect('probe-extrafields', 'SET_CUR(PROBE) with the 26-byte UVC 1.0 block stalled');
          continue;
        }
        const shorter = shorterLength(this.length);
        if (shorter === null || (this.triedLonger && shorter === PROBE_LENGTH_UVC10)) throw error;
        this.fixups.push(`the device refuses a ${this.length}-byte probe block; using ${shorter} bytes`);
        this.length = shorter;
      }
    }
  }

  /**
   * The device's default block, if it can be believed: GET_DEF must name a format and frame the interface describes
   * and an interval. A camera that answers otherwise has probe-def; it is not asked GET_DEF again.
   */
  async defaultBlock(): Promise<Uint8Array | null> {
    if (this.quirks.has('probe-def')) return null;
    const bytes = await this.tryGet('GET_DEF');
    if (bytes === null || bytes.length < PROBE_LENGTH_UVC10) return null;
    const block = decodeProbeControl(bytes);
    const format = this.streaming.formats.find((f) => f.index === block.bFormatIndex);
    const frame = format?.frames.find((f) => f.index === block.bFrameIndex);
    if (format === undefined || frame === undefined || block.dwFrameInterval === 0) {
      this.quirks.detect(
        'probe-def',
        `GET_DEF(PROBE) names format ${block.bFormatIndex} frame ${block.bFrameIndex} interval ${block.dwFrameInterval}, which interface ${this.streaming.interfaceNumber} does not offer`,
      );
      return null;
    }
    return bytes;
  }

  async getCurrent(): Promise<Uint8Array> {
    const bytes = await getControl(this.transport, this.probeAddress, GET_REQUEST.GET_CUR, this.length, this.options('VS probe'));
    if (bytes.length < PROBE_LENGTH_UVC10) {
      throw new UvcError('EPROTO', `GET_CUR(PROBE) answered ${bytes.length} bytes; a probe block has at least 26`, {
        details: { interfaceNumber: this.streaming.interfaceNumber, length: bytes.length },
      });
    }
    this.adoptShorterAnswer(bytes, 'GET_CUR');
    return bytes.slice(0, this.length);
  }
}

/** The format and frame the device's answer names, which may differ from what was asked. */
function lookUp(streaming: VideoStreamingInterface, control: ProbeControl): { format: VideoFormat; frame: VideoFrame } {
  const format = streaming.formats.find((f) => f.index === control.bFormatIndex);
  const frame = format?.frames.find((f) => f.index === control.bFrameIndex);
  if (format === undefined || frame === undefined) {
    throw new UvcError(
      'EPROTO',
      `the device answered the probe with format ${control.bFormatIndex} frame ${control.bFrameIndex}, which interface ${streaming.interfaceNumber} does not describe`,
      { details: { interfaceNumber: streaming.interfaceNumber, bFormatIndex: control.bFormatIndex, bFrameIndex: control.bFrameIndex } },
    );
  }
  return { format, frame };
}

function modeName(format: VideoFormat, frame: VideoFrame, interval: number): string {
  return `${format.fourcc ?? format.kind} ${frame.width}x${frame.height} at ${(1e7 / interval).toFixed(2).replace(/\.00$/, '')} fps`;
}

/**
 * Probes the selected mode: the device's answer, fixed up, with the alt setting that carries it. Nothing is
 * committed yet. ENOSPC when no alt setting has the bandwidth (details.suggestion names a mode that fits).
 */
export async function probe(
  transport: UsbTransport,
  fn: UvcFunction,
  selection: FormatSelection,
  options: NegotiationOptions = {},
): Promise<StreamParameters> {
  const streaming = selection.streaming;
  if (!fn.streamingInterfaces.includes(streaming)) {
    throw new UvcError('EINVAL', `streaming interface ${streaming.interfaceNumber} is not part of this video function`);
  }
  const speed = speedOf(transport, options);
  const quirks = options.quirks ?? new DeviceQuirks('probe');
  const n = new Negotiation(transport, fn, streaming, options.timeoutMs ?? 5000, quirks);
  await n.discoverLength();

  // The device's defaults are the template of the proposal.
  let template = await n.defaultBlock();
  let templateSource = 'GET_DEF';
  if (template === null) {
    n.fixups.push(quirks.has('probe-def') ? 'GET_DEF(PROBE) not trusted (probe-def); starting from GET_CUR' : 'GET_DEF(PROBE) not supported; starting from GET_CUR');
    template = await n.tryGet('GET_CUR');
    templateSource = 'GET_CUR';
  }
  let proposal: ProbeControl;
  if (template !== null && template.length >= PROBE_LENGTH_UVC10) {
    n.adoptShorterAnswer(template, templateSource);
    proposal = decodeProbeControl(template);
  } else {
    proposal = emptyProbeControl();
  }
  proposal = {
    ...proposal,
    bmHint: ProbeHint.FRAME_INTERVAL,
    bFormatIndex: selection.format.index,
    bFrameIndex: selection.frame.index,
    dwFrameInterval: selection.interval,
  };
  // Some webcams stall a proposal whose (device-owned) dwMaxVideoFrameSize is 0 (uvcvideo's PROBE_EXTRAFIELDS).
  if (proposal.dwMaxVideoFrameSize === 0 && selection.frame.maxFrameSize !== null) proposal.dwMaxVideoFrameSize = selection.frame.maxFrameSize;

  await n.setProbe(proposal);

  // GET_MIN/GET_MAX for the compression parameters, unless the camera is known to stall them (probe-minmax).
  let minBytes: Uint8Array | null = null;
  let maxBytes: Uint8Array | null = null;
  if (!quirks.has('probe-minmax')) {
    minBytes = await n.tryGet('GET_MIN');
    if (minBytes === null && isUvcError(n.lastRefusal) && ['EPIPE', 'EINVAL'].includes(n.lastRefusal.code)) {
      quirks.detect('probe-minmax', 'GET_MIN(PROBE) stalled');
    } else {
      maxBytes = await n.tryGet('GET_MAX');
    }
  }
  const compressionOf = (bytes: Uint8Array | null): ProbeControl | null => {
    if (bytes === null) return null;
    if (bytes.length >= PROBE_LENGTH_UVC10) return decodeProbeControl(bytes);
    if (bytes.length === 2) {
      n.fixups.push('GET_MIN/GET_MAX(PROBE) answer only wCompQuality (Bison workaround)');
      quirks.detect('minmax-comp-quality-only', `GET_MIN/GET_MAX(PROBE) answered ${bytes.length} bytes`);
      return { ...emptyProbeControl(), wCompQuality: bytes[0]! | (bytes[1]! << 8) };
    }
    return null;
  };
  const min = compressionOf(minBytes);
  const max = compressionOf(maxBytes);
  if (max !== null) proposal = { ...proposal, wCompQuality: max.wCompQuality };

  const largest = largestBytesPerInterval(streaming);
  const isochronous = streaming.transferType === 'isochronous';
  let answer: Uint8Array = new Uint8Array(0);
  let control: ProbeControl = proposal;
  let fixups: string[] = [];
  let mode = { format: selection.format, frame: selection.frame };
  for (let round = 0; round < 2; round++) {
    await n.setProbe(proposal);
    answer = await n.getCurrent();
    const decoded = decodeProbeControl(answer);
    mode = lookUp(streaming, decoded);
    if (decoded.dwFrameInterval === 0) {
      n.fixups.push(`the device answered dwFrameInterval 0; taking the requested ${selection.interval}`);
      decoded.dwFrameInterval = selection.interval;
    }
    const fixed = fixupProbeControl(decoded, { streaming, format: mode.format, frame: mode.frame, speed, fixBandwidth: quirks.has('fix-bandwidth') });
    ({ control, fixups } = fixed);
    for (const name of fixed.quirks) quirks.detect(name, fixed.fixups.join('; '));
    if (round === 1 || !isochronous || streaming.altSettings.length <= 1 || control.dwMaxPayloadTransferSize <= largest || min === null) break;
    // Too much bandwidth: ask once more with the minimum compression parameters.
    n.fixups.push(`the device needs ${control.dwMaxPayloadTransferSize} bytes per interval (at most ${largest}); probing again with minimum compression parameters`);
    proposal = {
      ...decoded,
      wKeyFrameRate: min.wKeyFrameRate,
      wPFrameRate: min.wPFrameRate,
      wCompQuality: min.wCompQuality,
      wCompWindowSize: min.wCompWindowSize,
    };
  }

  const clamped = clampOversized(control, { streaming, format: mode.format, frame: mode.frame, speed });
  if (clamped.quirks.length > 0) {
    control = clamped.control;
    fixups = [...fixups, ...clamped.fixups];
    for (const name of clamped.quirks) quirks.detect(name, clamped.fixups.join('; '));
  }

  const alt = chooseAltSetting(streaming, control.dwMaxPayloadTransferSize);
  if (alt === null) {
    const suggestion = suggestFittingMode(streaming, { ...mode, interval: control.dwFrameInterval }, control.dwMaxPayloadTransferSize, largest, speed);
    const wanted = modeName(mode.format, mode.frame, control.dwFrameInterval);
    const hint =
      suggestion === null
        ? 'no mode of this interface fits'
        : `${suggestion.fourcc ?? 'format ' + suggestion.formatIndex} ${suggestion.width}x${suggestion.height} at ${Number(suggestion.fps.toFixed(2))} fps would fit`;
    throw new UvcError(
      'ENOSPC',
      `${wanted} needs ${control.dwMaxPayloadTransferSize} bytes per interval, but the largest alt setting of interface ${streaming.interfaceNumber} offers ${largest}; ${hint}`,
      { details: { required: control.dwMaxPayloadTransferSize, available: largest, interfaceNumber: streaming.interfaceNumber, suggestion, fixups: [...n.fixups, ...fixups] } },
    );
  }

  const clockFromProbe = control.dwClockFrequency !== null && control.dwClockFrequency > 0 ? control.dwClockFrequency : null;
  return {
    interfaceNumber: streaming.interfaceNumber,
    endpointAddress: alt.endpointAddress ?? streaming.endpointAddress,
    transferType: streaming.transferType,
    altSetting: alt.alternateSetting,
    bytesPerInterval: isochronous ? alt.bytesPerInterval : alt.maxPacketSize,
    format: { index: mode.format.index, kind: mode.format.kind, fourcc: mode.format.fourcc, guid: mode.format.guid, bitsPerPixel: mode.format.bitsPerPixel },
    frame: { index: mode.frame.index, width: mode.frame.width, height: mode.frame.height },
    interval: control.dwFrameInterval,
    fps: 1e7 / control.dwFrameInterval,
    dwMaxVideoFrameSize: control.dwMaxVideoFrameSize,
    dwMaxPayloadTransferSize: control.dwMaxPayloadTransferSize,
    dwClockFrequency: clockFromProbe ?? fn.videoControl.clockFrequency,
    bmFramingInfo: control.bmFramingInfo,
    block: answer,
    control,
    bcdUVC: fn.bcdUVC,
    speed,
    fixups: [...n.fixups, ...fixups],
    committed: false,
  };
}

/** SET_CUR(COMMIT) with the block the device offered in the probe. */
export async function commit(
  transport: UsbTransport,
  fn: UvcFunction,
  parameters: StreamParameters,
  options: NegotiationOptions = {},
): Promise<StreamParameters> {
  await setControl(
    transport,
    { interfaceNumber: parameters.interfaceNumber, entityId: 0, selector: VsControl.COMMIT },
    parameters.block,
    { timeoutMs: options.timeoutMs ?? 5000, errorCodeInterface: fn.videoControl.interfaceNumber, label: 'VS commit' },
  );
  return { ...parameters, committed: true };
}

/** selectFormat + probe + commit. */
export async function negotiateStream(
  transport: UsbTransport,
  fn: UvcFunction,
  request: FormatRequest = {},
  options: NegotiationOptions = {},
): Promise<StreamParameters> {
  const selection = selectFormat(fn, request);
  return commit(transport, fn, await probe(transport, fn, selection, options), options);
}
