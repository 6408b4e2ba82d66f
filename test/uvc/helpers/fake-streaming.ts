/**
 * The VideoStreaming side of the fake device: the probe and commit controls, with knobs for the ways real
 * devices differ (block lengths, GET_LEN/GET_DEF/GET_MIN/GET_MAX support, what they answer).
 */
import { decodeProbeControl, encodeProbeControl, type ProbeControl } from '../../../src/uvc/probe-block.js';
import type { ControlReply } from './scripted-transport.js';
import { le, REQ, type FakeUvcDevice, type StreamingHandler } from './fake-uvc-device.js';

export interface StreamingModel {
  /** SET_CUR lengths the device takes; other lengths stall with `wrongLengthCode`. */
  acceptedLengths: number[];
  /** Request error code for a SET_CUR of a wrong length (0: the device gives no reason). */
  wrongLengthCode?: number;
  /** How long its GET answers are (never more than asked). */
  answerLength: number;
  /** GET_LEN(PROBE): its answer, or null to stall. */
  getLen: number | null;
  /** GET_DEF(PROBE): the block, or null to stall. */
  def: ProbeControl | null;
  /** GET_MIN/GET_MAX(PROBE): full blocks, just wCompQuality (2 bytes), or a stall. */
  minMax: { min: ProbeControl; max: ProbeControl } | { minQuality: number; maxQuality: number } | null;
  /** GET_CUR(PROBE) stalls until the first SET_CUR (a device with no current setting yet). */
  curStallsUntilSet?: boolean;
  /** The device's counter-offer to a proposal, or a request error code to refuse it with. */
  negotiate: (proposal: ProbeControl) => ProbeControl | number;
}

export class FakeStreaming {
  current: ProbeControl;
  readonly proposals: ProbeControl[] = [];
  readonly proposalLengths: number[] = [];
  committed: Uint8Array | null = null;

  constructor(
    readonly interfaceNumber: number,
    readonly model: StreamingModel,
    initial: ProbeControl,
  ) {
    this.current = initial;
  }

  readonly handle: StreamingHandler = (setup, payload, device: FakeUvcDevice): ControlReply => {
    if ((setup.wIndex & 0xff) !== this.interfaceNumber || (setup.wIndex >> 8) !== 0) return device.refuse(0x05);
    const selector = setup.wValue >> 8;
    const m = this.model;
    const answer = (block: ProbeControl): Uint8Array => encodeProbeControl(block, m.answerLength);
    if (selector === 0x01) {
      switch (setup.bRequest) {
        case REQ.GET_LEN:
          return m.getLen === null ? device.refuse(0x07) : le(m.getLen, 2);
        case REQ.GET_INFO:
          return Uint8Array.of(0x03);
        case REQ.GET_DEF:
          return m.def === null ? device.refuse(0x07) : answer(m.def);
        case REQ.GET_CUR:
          if (m.curStallsUntilSet === true && this.proposals.length === 0) return device.refuse(0x02);
          return answer(this.current);
        case REQ.GET_MIN:
        case REQ.GET_MAX: {
          if (m.minMax === null) return device.refuse(0x07);
          const min = setup.bRequest === REQ.GET_MIN;
          if ('min' in m.minMax) return answer(min ? m.minMax.min : m.minMax.max);
          return le(min ? m.minMax.minQuality : m.minMax.maxQuality, 2);
        }
        case REQ.SET_CUR: {
          const data = (payload as { data: Uint8Array }).data;
          if (!m.acceptedLengths.includes(data.length)) return device.refuse(m.wrongLengthCode ?? 0x07);
          const proposal = decodeProbeControl(data);
          this.proposals.push(proposal);
          this.proposalLengths.push(data.length);
          const offer = m.negotiate(proposal);
          if (typeof offer === 'number') return device.refuse(offer);
          this.current = offer;
          device.requestErrorCode = 0;
          return 'ok';
        }
        default:
          return device.refuse(0x07);
      }
    }
    if (selector === 0x02 && setup.bRequest === REQ.SET_CUR) {
      const data = (payload as { data: Uint8Array }).data;
      if (!m.acceptedLengths.includes(data.length)) return device.refuse(m.wrongLengthCode ?? 0x07);
      this.committed = data.slice();
      device.requestErrorCode = 0;
      return 'ok';
    }
    return device.refuse(0x06);
  };
}
