/**
 * parseUvcDescriptors(): from the raw configuration descriptor to the typed model of every video function in it.
 *
 * Fatal (UvcError 'EINVAL', naming the offset): the bytes are not a configuration descriptor, or no usable
 * VideoControl interface is in them. Everything else that is wrong becomes a warning in `warnings` and the parse
 * goes on with what is usable. Work and memory are linear in the input: every loop is bounded by bytes present,
 * never by a count field.
 */
import { UvcError } from '../../errors.js';
import { CC_VIDEO, VideoSubclass, bcdToVersion } from '../../spec/uvc.js';
import { at } from './byte-reader.js';
import { walkConfiguration, type AltSettingBlock } from './configuration-walker.js';
import type {
  DeclaredControl,
  InterfaceAssociation,
  OtherInterface,
  UvcDescriptors,
  UvcFunction,
  VideoControlInterface,
  VideoStreamingInterface,
} from './model.js';
import { ParseContext } from './parse-context.js';
import { parseVideoControl } from './video-control.js';
import { parseVideoStreaming } from './video-streaming.js';

export function parseUvcDescriptors(config: Uint8Array): UvcDescriptors {
  return parseWith(config, new ParseContext());
}

/** The parse with its step count, for the fuzz test's proof that work stays linear in the input. */
export function parseUvcDescriptorsCounted(config: Uint8Array): { steps: number; descriptors?: UvcDescriptors; error?: unknown } {
  const ctx = new ParseContext();
  try {
    const descriptors = parseWith(config, ctx);
    return { steps: ctx.steps, descriptors };
  } catch (error) {
    return { steps: ctx.steps, error };
  }
}

function parseWith(config: Uint8Array, ctx: ParseContext): UvcDescriptors {
  if (!(config instanceof Uint8Array)) {
    throw new UvcError('EINVAL', 'configuration descriptor must be a Uint8Array');
  }
  const walked = walkConfiguration(config, ctx);

  const interfaces = new Map<number, AltSettingBlock[]>();
  for (const alt of walked.altSettings) {
    ctx.tick();
    const list = interfaces.get(alt.interfaceNumber);
    if (list === undefined) interfaces.set(alt.interfaceNumber, [alt]);
    else list.push(alt);
  }

  const videoControls: VideoControlInterface[] = [];
  const streaming = new Map<number, VideoStreamingInterface>();
  const otherInterfaces: OtherInterface[] = [];
  let videoControlSeen = false;

  for (const [interfaceNumber, alts] of interfaces) {
    ctx.tick();
    const first = alts.reduce((a, b) => (b.alternateSetting < a.alternateSetting ? b : a));
    const isVideo = first.interfaceClass === CC_VIDEO;
    for (const alt of alts) {
      if (alt.interfaceClass !== first.interfaceClass || alt.interfaceSubClass !== first.interfaceSubClass) {
        ctx.warn(alt.offset, `interface ${interfaceNumber} alt setting ${alt.alternateSetting} changes class or subclass; ignored`);
      }
    }
    const consistent = alts.filter((a) => a.interfaceClass === first.interfaceClass && a.interfaceSubClass === first.interfaceSubClass);
    if (isVideo && first.interfaceSubClass === VideoSubclass.VIDEOCONTROL) {
      videoControlSeen = true;
      const vc = parseVideoControl(first, ctx);
      if (vc !== null) videoControls.push(vc);
    } else if (isVideo && first.interfaceSubClass === VideoSubclass.VIDEOSTREAMING) {
      streaming.set(interfaceNumber, parseVideoStreaming(consistent, ctx));
    } else {
      otherInterfaces.push({
        interfaceNumber,
        interfaceClass: first.interfaceClass,
        interfaceSubClass: first.interfaceSubClass,
        interfaceProtocol: first.interfaceProtocol,
        altSettingCount: alts.length,
      });
    }
  }

  if (videoControls.length === 0) {
    const reason = videoControlSeen
      ? `no usable VideoControl interface${ctx.warnings.length > 0 ? ` (${ctx.warnings[ctx.warnings.length - 1]})` : ''}`
      : 'no VideoControl interface (class 0x0e, subclass 0x01): not a UVC configuration';
    throw new UvcError('EINVAL', `${at(0)}: ${reason}`, { details: { offset: 0, warnings: [...ctx.warnings] } });
  }

  const functions = assembleFunctions(videoControls, streaming, walked.associations, ctx);
  const primary = functions[0]!;
  return {
    ...primary,
    configuration: walked.info,
    functions,
    interfaceAssociations: walked.associations,
    otherInterfaces,
    warnings: ctx.finish(),
  };
}

function assembleFunctions(
  videoControls: VideoControlInterface[],
  streaming: Map<number, VideoStreamingInterface>,
  associations: InterfaceAssociation[],
  ctx: ParseContext,
): UvcFunction[] {
  const claimed = new Set<number>();
  const streamsOf = new Map<VideoControlInterface, VideoStreamingInterface[]>();
  for (const vc of videoControls) {
    const streams: VideoStreamingInterface[] = [];
    for (const number of vc.streamingInterfaceNumbers) {
      ctx.tick();
      const vs = streaming.get(number);
      if (vs === undefined) {
        ctx.warn(vc.offset, `VideoControl interface ${vc.interfaceNumber} names streaming interface ${number}, which is not a VideoStreaming interface`);
        continue;
      }
      if (claimed.has(number)) {
        ctx.warn(vc.offset, `streaming interface ${number} is named by two VideoControl interfaces; kept with the first`);
        continue;
      }
      claimed.add(number);
      streams.push(vs);
    }
    streamsOf.set(vc, streams);
  }

  // A VideoStreaming interface no header names would be lost; give it to the function its interface association
  // covers, else to the VideoControl interface before it, and say so.
  for (const [number, vs] of streaming) {
    ctx.tick();
    if (claimed.has(number)) continue;
    ctx.tick(associations.length + 2 * videoControls.length);
    const association = associations.find((a) => number >= a.firstInterface && number < a.firstInterface + a.interfaceCount);
    const byAssociation =
      association === undefined
        ? undefined
        : videoControls.find(
            (vc) => vc.interfaceNumber >= association.firstInterface && vc.interfaceNumber < association.firstInterface + association.interfaceCount,
          );
    const before = [...videoControls].reverse().find((vc) => vc.offset < vs.offset);
    const owner = byAssociation ?? before ?? videoControls[0]!;
    ctx.warn(vs.offset, `streaming interface ${number} is not named by any VideoControl header; attached to VideoControl interface ${owner.interfaceNumber}`);
    streamsOf.get(owner)!.push(vs);
  }

  return videoControls.map((vc) => ({
    uvcVersion: bcdToVersion(vc.bcdUVC),
    bcdUVC: vc.bcdUVC,
    videoControl: vc,
    streamingInterfaces: streamsOf.get(vc)!,
    controls: uniqueControls(vc, ctx),
  }));
}

/** Control names must be unique to be addressable by name: a second unit with the same control gets `_unit<id>`. */
function uniqueControls(vc: VideoControlInterface, ctx: ParseContext): DeclaredControl[] {
  const used = new Set<string>();
  const controls: DeclaredControl[] = [];
  for (const entity of vc.entities) {
    for (const control of entity.controls) {
      ctx.tick();
      if (used.has(control.name)) {
        const base = `${control.name}_unit${entity.id}`;
        let name = base;
        for (let n = 2; used.has(name); n++) {
          ctx.tick();
          name = `${base}_${n}`;
        }
        control.name = name;
      }
      used.add(control.name);
      controls.push(control);
    }
  }
  return controls;
}
