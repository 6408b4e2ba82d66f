/**
 * A neutral shape for "what a correct parser sees" in a configuration. The USB Tree View and lsusb readers build
 * it from the text decodes; project() builds it from our parse; the tests compare the two with toEqual.
 */
import type { EntityType, FormatKind, TransferType, UvcDescriptors } from '../../../src/uvc/descriptors/model.js';

export interface ExpectedEntity {
  type: EntityType;
  id: number;
  terminalType: number | null;
  sourceIds: number[];
  /** Our control names, sorted. */
  controls: string[];
  /** Set bmControls bits the class reserves. */
  unknownControlBits: number[];
  guid: string | null;
}

export interface ExpectedVideoControl {
  interfaceNumber: number;
  bcdUVC: number;
  clockFrequency: number;
  streamingInterfaceNumbers: number[];
  entities: ExpectedEntity[];
  interruptEndpoint: { address: number; maxTransferSize: number | null } | null;
}

export interface ExpectedAltSetting {
  alternateSetting: number;
  endpointAddress: number | null;
  transferType: TransferType | null;
  bytesPerInterval: number;
}

export interface ExpectedFrame {
  index: number;
  capabilities: number;
  width: number;
  height: number;
  maxFrameSize: number | null;
  bytesPerLine: number | null;
  defaultInterval: number;
  intervals: number[] | { min: number; max: number; step: number };
}

export interface ExpectedFormat {
  index: number;
  kind: FormatKind;
  fourcc: string | null;
  bitsPerPixel: number;
  defaultFrameIndex: number;
  frames: ExpectedFrame[];
  colorMatching: { colorPrimaries: number; transferCharacteristics: number; matrixCoefficients: number; source: 'descriptor' | 'default' };
  stillImage: { endpointAddress: number; sizes: { width: number; height: number }[] } | null;
}

export interface ExpectedStreaming {
  interfaceNumber: number;
  endpointAddress: number;
  terminalLink: number;
  stillCaptureMethod: number;
  altSettings: ExpectedAltSetting[];
  formats: ExpectedFormat[];
}

export interface ExpectedConfiguration {
  totalLength: number;
  videoControls: ExpectedVideoControl[];
  streaming: ExpectedStreaming[];
  otherInterfaceNumbers: number[];
  interfaceAssociationCount: number;
}

/** Our parse, in the same shape. */
export function project(parsed: UvcDescriptors): ExpectedConfiguration {
  return {
    totalLength: parsed.configuration.totalLength,
    videoControls: parsed.functions.map((f) => ({
      interfaceNumber: f.videoControl.interfaceNumber,
      bcdUVC: f.videoControl.bcdUVC,
      clockFrequency: f.videoControl.clockFrequency,
      streamingInterfaceNumbers: f.videoControl.streamingInterfaceNumbers,
      entities: f.videoControl.entities.map((e) => ({
        type: e.type,
        id: e.id,
        terminalType: 'terminalType' in e ? e.terminalType : null,
        sourceIds: e.sourceIds,
        controls: e.controls.map((c) => c.name).sort(),
        unknownControlBits: e.unknownControlBits,
        guid: e.type === 'extension-unit' ? e.guid : null,
      })),
      interruptEndpoint:
        f.videoControl.interruptEndpoint === null
          ? null
          : { address: f.videoControl.interruptEndpoint.address, maxTransferSize: f.videoControl.interruptEndpoint.maxTransferSize },
    })),
    streaming: parsed.functions
      .flatMap((f) => f.streamingInterfaces)
      .sort((a, b) => a.interfaceNumber - b.interfaceNumber)
      .map((s) => ({
        interfaceNumber: s.interfaceNumber,
        endpointAddress: s.endpointAddress,
        terminalLink: s.terminalLink,
        stillCaptureMethod: s.stillCaptureMethod,
        altSettings: s.altSettings.map((a) => ({
          alternateSetting: a.alternateSetting,
          endpointAddress: a.endpointAddress,
          transferType: a.transferType,
          bytesPerInterval: a.bytesPerInterval,
        })),
        formats: s.formats.map((f) => ({
          index: f.index,
          kind: f.kind,
          fourcc: f.fourcc,
          bitsPerPixel: f.bitsPerPixel,
          defaultFrameIndex: f.defaultFrameIndex,
          frames: f.frames.map((fr) => ({
            index: fr.index,
            capabilities: fr.capabilities,
            width: fr.width,
            height: fr.height,
            maxFrameSize: fr.maxFrameSize,
            bytesPerLine: fr.bytesPerLine,
            defaultInterval: fr.defaultInterval,
            intervals: fr.intervals,
          })),
          colorMatching: f.colorMatching,
          stillImage: f.stillImage === null ? null : { endpointAddress: f.stillImage.endpointAddress, sizes: f.stillImage.sizes },
        })),
      })),
    otherInterfaceNumbers: parsed.otherInterfaces.map((o) => o.interfaceNumber).sort((a, b) => a - b),
    interfaceAssociationCount: parsed.interfaceAssociations.length,
  };
}

/** Camera terminal and processing unit control labels, as the decoders print them, → our names. null: reserved. */
export const CONTROL_LABELS: Readonly<Record<string, string | null>> = {
  // camera terminal (USB Tree View | lsusb)
  'Scanning Mode': 'scanning_mode',
  'Auto-Exposure Mode': 'ae_mode',
  'Auto-Exposure Priority': 'ae_priority',
  'Exposure Time (Absolute)': 'exposure_time_absolute',
  'Exposure Time (Relative)': 'exposure_time_relative',
  'Focus (Absolute)': 'focus_absolute',
  'Focus (Relative)': 'focus_relative',
  'Iris (Absolute)': 'iris_absolute',
  'Iris (Relative)': 'iris_relative',
  'Zoom (Absolute)': 'zoom_absolute',
  'Zoom (Relative)': 'zoom_relative',
  'Pan (Absolute)': 'pan_tilt_absolute', // USB Tree View's label for D11 (PanTilt)
  'Pan (Relative)': 'pan_tilt_relative',
  'PanTilt (Absolute)': 'pan_tilt_absolute',
  'PanTilt (Relative)': 'pan_tilt_relative',
  'Roll (Absolute)': 'roll_absolute',
  'Roll (Relative)': 'roll_relative',
  'Tilt (Absolute)': null, // USB Tree View labels D15/D16 so; UVC 1.0+ reserves them
  'Tilt (Relative)': null,
  'Focus Auto': 'focus_auto',
  'Focus, Auto': 'focus_auto',
  Privacy: 'privacy',
  'Focus, Simple': 'focus_simple',
  Window: 'digital_window',
  'Region of Interest': 'region_of_interest',
  Reserved: null,
  // processing unit
  Brightness: 'brightness',
  Contrast: 'contrast',
  Hue: 'hue',
  Saturation: 'saturation',
  Sharpness: 'sharpness',
  Gamma: 'gamma',
  'White Balance Temperature': 'white_balance_temperature',
  'White Balance Component': 'white_balance_component',
  'Backlight Compensation': 'backlight_compensation',
  Gain: 'gain',
  'Power Line Frequency': 'power_line_frequency',
  'Hue, Auto': 'hue_auto',
  'White Balance Temperature, Auto': 'white_balance_temperature_auto',
  'White Balance Component, Auto': 'white_balance_component_auto',
  'Digital Multiplier': 'digital_multiplier',
  'Digital Multiplier Limit': 'digital_multiplier_limit',
  'Analog Video Standard': 'analog_video_standard',
  'Analog Video Lock Status': 'analog_lock_status',
  'Contrast, Auto': 'contrast_auto',
};

export function controlNameForLabel(label: string): string | null {
  if (!(label in CONTROL_LABELS)) throw new Error(`no mapping for control label '${label}'`);
  return CONTROL_LABELS[label]!;
}
