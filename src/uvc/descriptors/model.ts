/**
 * The typed model of a UVC device's configuration descriptor, as parseUvcDescriptors() returns it.
 *
 * Conventions: every number is what the descriptor says (no unit conversion) unless the field name says
 * otherwise; frame intervals are in 100 ns units; `offset` fields give where a descriptor starts in the
 * configuration, for messages and tools.
 */

/** The payload format a VS format descriptor announces. */
export type FormatKind =
  | 'uncompressed'
  | 'mjpeg'
  | 'frame-based'
  | 'h264'
  | 'vp8'
  | 'dv'
  | 'mpeg2ts'
  | 'stream-based';

export type TransferType = 'isochronous' | 'bulk';

export type EntityType =
  | 'camera-terminal'
  | 'input-terminal'
  | 'output-terminal'
  | 'selector-unit'
  | 'processing-unit'
  | 'extension-unit'
  | 'encoding-unit';

/** A control an entity declares in its bmControls bitmap (or implicitly, as the selector unit does). */
export interface DeclaredControl {
  /** Unique within the function: 'brightness', 'pan_tilt_absolute', 'xu3_1', … (see control-catalog.ts). */
  name: string;
  selector: number;
  /** The bmControls bit that declared it; -1 for controls no bitmap declares (selector unit input). */
  bit: number;
  entityId: number;
  entityType: EntityType;
}

interface EntityBase {
  id: number;
  /** Offset of the entity's descriptor in the configuration. */
  offset: number;
  /** bSourceID / baSourceID: the entities feeding this one (empty for input terminals). */
  sourceIds: number[];
  /** Named controls from the bmControls bitmap, in bit order. */
  controls: DeclaredControl[];
  /** Set bmControls bits the class does not define (reserved bits some devices set). */
  unknownControlBits: number[];
  /** String descriptor index (iTerminal, iProcessing, iExtension, …); 0 = none. */
  stringIndex: number;
}

export interface CameraTerminal extends EntityBase {
  type: 'camera-terminal';
  terminalType: number;
  associatedTerminal: number;
  objectiveFocalLengthMin: number;
  objectiveFocalLengthMax: number;
  ocularFocalLength: number;
}

export interface InputTerminal extends EntityBase {
  type: 'input-terminal';
  terminalType: number;
  associatedTerminal: number;
}

export interface OutputTerminal extends EntityBase {
  type: 'output-terminal';
  terminalType: number;
  associatedTerminal: number;
}

export interface SelectorUnit extends EntityBase {
  type: 'selector-unit';
}

export interface ProcessingUnit extends EntityBase {
  type: 'processing-unit';
  maxMultiplier: number;
  /** bmVideoStandards (UVC 1.1+), null when the descriptor is too short to carry it. */
  videoStandards: number | null;
}

export interface ExtensionUnit extends EntityBase {
  type: 'extension-unit';
  /** guidExtensionCode in the usual textual form, lower case, e.g. '69678ee4-410f-40db-a850-7420d7d8240e'. */
  guid: string;
  numControls: number;
}

export interface EncodingUnit extends EntityBase {
  type: 'encoding-unit';
  /** Bits of bmControlsRuntime: controls that may be changed while streaming. */
  runtimeControlBits: number[];
}

export type VcEntity =
  | CameraTerminal
  | InputTerminal
  | OutputTerminal
  | SelectorUnit
  | ProcessingUnit
  | ExtensionUnit
  | EncodingUnit;

export interface InterruptEndpoint {
  address: number;
  maxPacketSize: number;
  interval: number;
  /** wMaxTransferSize of the class-specific interrupt endpoint descriptor, null when absent. */
  maxTransferSize: number | null;
}

export interface VideoControlInterface {
  interfaceNumber: number;
  offset: number;
  bcdUVC: number;
  /** dwClockFrequency of the header, in Hz (the unit of PTS/SCR for UVC 1.0 devices). */
  clockFrequency: number;
  /** baInterfaceNr: the VideoStreaming interfaces of this function. */
  streamingInterfaceNumbers: number[];
  entities: VcEntity[];
  interruptEndpoint: InterruptEndpoint | null;
}

export interface SuperSpeedCompanion {
  maxBurst: number;
  attributes: number;
  bytesPerInterval: number;
}

export interface AltSetting {
  alternateSetting: number;
  /** The video data endpoint of this alt setting, null when it has none (alt 0 of an isochronous interface). */
  endpointAddress: number | null;
  transferType: TransferType | null;
  /** wMaxPacketSize as the descriptor gives it (with the multiplier bits). */
  wMaxPacketSize: number;
  /** Bits 0–10 of wMaxPacketSize. */
  maxPacketSize: number;
  /** 1 + bits 11–12 of wMaxPacketSize. */
  transactionsPerInterval: number;
  /**
   * Bytes the endpoint moves per service interval: the SuperSpeed companion's wBytesPerInterval (or the SuperSpeedPlus
   * isochronous companion's dwBytesPerInterval) when present, else maxPacketSize × transactionsPerInterval.
   * 0 when the alt setting has no video endpoint.
   */
  bytesPerInterval: number;
  /** bInterval of the endpoint. */
  interval: number;
  superSpeed: SuperSpeedCompanion | null;
}

export interface ColorMatching {
  colorPrimaries: number;
  transferCharacteristics: number;
  matrixCoefficients: number;
  /** 'default' when the format has no color matching descriptor: the values the specification then prescribes. */
  source: 'descriptor' | 'default';
}

export interface StillImageFrame {
  /** Method 3: the bulk still-image endpoint; 0 for method 2. */
  endpointAddress: number;
  sizes: { width: number; height: number }[];
  compression: number[];
}

export type FrameIntervals = number[] | { min: number; max: number; step: number };

export interface VideoFrame {
  index: number;
  offset: number;
  width: number;
  height: number;
  /** bmCapabilities (bit 0 still image supported, bit 1 fixed frame rate); 0 for formats without it. */
  capabilities: number;
  minBitRate: number;
  maxBitRate: number;
  /** dwMaxVideoFrameBufferSize; null for formats whose frame descriptors do not carry it (frame-based, H.264, VP8). */
  maxFrameSize: number | null;
  /** Frame-based formats: dwBytesPerLine (0 for compressed data); null otherwise. */
  bytesPerLine: number | null;
  defaultInterval: number;
  /** 100 ns units: the discrete list, or the continuous range. */
  intervals: FrameIntervals;
  /**
   * The still image sizes a capture can take while this frame streams: the format's still image frame sizes for
   * methods 2 and 3, this frame's own size for method 1 when bmCapabilities bit 0 is set, else none.
   */
  stillImageSizes: { width: number; height: number }[];
}

export interface VideoFormat {
  index: number;
  offset: number;
  kind: FormatKind;
  /** bDescriptorSubtype of the format descriptor. */
  subtype: number;
  /** 'YUY2', 'NV12', 'MJPG', 'H264', … null when the GUID carries no printable FourCC. */
  fourcc: string | null;
  /** guidFormat (uncompressed, frame-based, stream-based), textual form; null for formats without one. */
  guid: string | null;
  /** bBitsPerPixel; 0 for formats that do not state it (MJPEG, H.264, VP8, DV, MPEG-2 TS). */
  bitsPerPixel: number;
  defaultFrameIndex: number;
  aspectRatioX: number;
  aspectRatioY: number;
  interlaceFlags: number;
  copyProtect: number;
  /** MJPEG bmFlags bit 0, frame-based bVariableSize == 0: every frame has the same size. */
  fixedSizeSamples: boolean;
  /** bNumFrameDescriptors as declared (frames.length is what was found). */
  declaredFrameCount: number;
  frames: VideoFrame[];
  stillImage: StillImageFrame | null;
  colorMatching: ColorMatching;
}

export interface VideoStreamingInterface {
  interfaceNumber: number;
  offset: number;
  /** 'in' (camera → host: an input header) or 'out' (an output header). */
  direction: 'in' | 'out';
  /** The header's bEndpointAddress (or the data endpoint found in the alt settings when the header is unusable). */
  endpointAddress: number;
  transferType: TransferType;
  terminalLink: number;
  /** bmInfo bit 0: dynamic format change supported. */
  dynamicFormatChange: boolean;
  stillCaptureMethod: number;
  triggerSupport: number;
  triggerUsage: number;
  /** bmaControls: per format (in order), the VS controls (key frame rate, …) it supports, as a bit mask. */
  formatControls: number[];
  /** Every alt setting, in ascending order of alternateSetting. */
  altSettings: AltSetting[];
  formats: VideoFormat[];
}

/** One video function: a VideoControl interface and the VideoStreaming interfaces it names. */
export interface UvcFunction {
  /** '1.00', '1.10', '1.50' */
  uvcVersion: string;
  bcdUVC: number;
  videoControl: VideoControlInterface;
  streamingInterfaces: VideoStreamingInterface[];
  /** Every control the function's units and terminals declare, names unique within the function. */
  controls: DeclaredControl[];
}

export interface InterfaceAssociation {
  offset: number;
  firstInterface: number;
  interfaceCount: number;
  functionClass: number;
  functionSubClass: number;
  functionProtocol: number;
  stringIndex: number;
}

/** An interface of the configuration that is not UVC (audio, HID, vendor, …): recognised and skipped. */
export interface OtherInterface {
  interfaceNumber: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  altSettingCount: number;
}

export interface ConfigurationInfo {
  configurationValue: number;
  /** wTotalLength as the descriptor states it. */
  totalLength: number;
  /** How many bytes were actually parsed. */
  parsedLength: number;
  numInterfaces: number;
  attributes: number;
  maxPower: number;
}

/**
 * The whole model. The top-level UvcFunction fields describe the first video function of the configuration; a
 * configuration with several (two cameras in one device) lists them all in `functions`.
 */
export interface UvcDescriptors extends UvcFunction {
  configuration: ConfigurationInfo;
  functions: UvcFunction[];
  interfaceAssociations: InterfaceAssociation[];
  otherInterfaces: OtherInterface[];
  /** Problems the parser worked around, each naming the offset (as uvcvideo logs them). */
  warnings: string[];
}
