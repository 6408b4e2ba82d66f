/**
 * Numbers from the USB Video Class specification (1.0, 1.1, 1.5), shared by the driver and the virtual camera
 * the way the kernel's include/uapi/linux/usb/video.h is shared by uvcvideo and the UVC gadget.
 * Facts only, no behaviour. Source of truth next to it: ../shared/reference/uvc-facts.md.
 */

export const CC_VIDEO = 0x0e;

export const VideoSubclass = {
  UNDEFINED: 0x00,
  VIDEOCONTROL: 0x01,
  VIDEOSTREAMING: 0x02,
  INTERFACE_COLLECTION: 0x03,
} as const;

export const CS_UNDEFINED = 0x20;
export const CS_DEVICE = 0x21;
export const CS_CONFIGURATION = 0x22;
export const CS_STRING = 0x23;
export const CS_INTERFACE = 0x24;
export const CS_ENDPOINT = 0x25;

/** Class-specific endpoint descriptor subtype of the status interrupt endpoint. */
export const EP_INTERRUPT = 0x03;

/** VideoControl interface descriptor subtypes. */
export const VcSubtype = {
  HEADER: 0x01,
  INPUT_TERMINAL: 0x02,
  OUTPUT_TERMINAL: 0x03,
  SELECTOR_UNIT: 0x04,
  PROCESSING_UNIT: 0x05,
  EXTENSION_UNIT: 0x06,
  ENCODING_UNIT: 0x07,
} as const;

/** VideoStreaming interface descriptor subtypes. */
export const VsSubtype = {
  INPUT_HEADER: 0x01,
  OUTPUT_HEADER: 0x02,
  STILL_IMAGE_FRAME: 0x03,
  FORMAT_UNCOMPRESSED: 0x04,
  FRAME_UNCOMPRESSED: 0x05,
  FORMAT_MJPEG: 0x06,
  FRAME_MJPEG: 0x07,
  FORMAT_MPEG2TS: 0x0a,
  FORMAT_DV: 0x0c,
  COLORFORMAT: 0x0d,
  FORMAT_FRAME_BASED: 0x10,
  FRAME_FRAME_BASED: 0x11,
  FORMAT_STREAM_BASED: 0x12,
  FORMAT_H264: 0x13,
  FRAME_H264: 0x14,
  FORMAT_H264_SIMULCAST: 0x15,
  FORMAT_VP8: 0x16,
  FRAME_VP8: 0x17,
  FORMAT_VP8_SIMULCAST: 0x18,
} as const;

/** Terminal types (wTerminalType). */
export const TerminalType = {
  TT_VENDOR_SPECIFIC: 0x0100,
  TT_STREAMING: 0x0101,
  ITT_VENDOR_SPECIFIC: 0x0200,
  ITT_CAMERA: 0x0201,
  ITT_MEDIA_TRANSPORT_INPUT: 0x0202,
  OTT_VENDOR_SPECIFIC: 0x0300,
  OTT_DISPLAY: 0x0301,
  OTT_MEDIA_TRANSPORT_OUTPUT: 0x0302,
} as const;

/** Class-specific request codes (bRequest). */
export const UvcRequest = {
  RC_UNDEFINED: 0x00,
  SET_CUR: 0x01,
  SET_CUR_ALL: 0x11,
  GET_CUR: 0x81,
  GET_MIN: 0x82,
  GET_MAX: 0x83,
  GET_RES: 0x84,
  GET_LEN: 0x85,
  GET_INFO: 0x86,
  GET_DEF: 0x87,
  GET_CUR_ALL: 0x91,
  GET_MIN_ALL: 0x92,
  GET_MAX_ALL: 0x93,
  GET_RES_ALL: 0x94,
  GET_DEF_ALL: 0x97,
} as const;

/** bmRequestType of class requests addressed to an interface (VC/VS) or to an entity on it. */
export const UVC_SET_REQUEST_TYPE = 0x21;
export const UVC_GET_REQUEST_TYPE = 0xa1;

/** GET_INFO capability bits. */
export const ControlInfo = {
  SUPPORTS_GET: 1 << 0,
  SUPPORTS_SET: 1 << 1,
  DISABLED_BY_AUTO: 1 << 2,
  AUTOUPDATE: 1 << 3,
  ASYNCHRONOUS: 1 << 4,
  DISABLED_BY_COMMIT_STATE: 1 << 5,
} as const;

/** VideoControl interface control selectors. */
export const VcControl = {
  VIDEO_POWER_MODE: 0x01,
  REQUEST_ERROR_CODE: 0x02,
} as const;

/** VideoStreaming interface control selectors. */
export const VsControl = {
  PROBE: 0x01,
  COMMIT: 0x02,
  STILL_PROBE: 0x03,
  STILL_COMMIT: 0x04,
  STILL_IMAGE_TRIGGER: 0x05,
  STREAM_ERROR_CODE: 0x06,
  GENERATE_KEY_FRAME: 0x07,
  UPDATE_FRAME_SEGMENT: 0x08,
  SYNCH_DELAY: 0x09,
} as const;

/** Values of REQUEST_ERROR_CODE_CONTROL. */
export const RequestErrorCode = {
  NO_ERROR: 0x00,
  NOT_READY: 0x01,
  WRONG_STATE: 0x02,
  POWER: 0x03,
  OUT_OF_RANGE: 0x04,
  INVALID_UNIT: 0x05,
  INVALID_CONTROL: 0x06,
  INVALID_REQUEST: 0x07,
  INVALID_VALUE_WITHIN_RANGE: 0x08,
  UNKNOWN: 0xff,
} as const;

export const REQUEST_ERROR_TEXT: Readonly<Record<number, string>> = {
  0x00: 'no error',
  0x01: 'not ready',
  0x02: 'wrong state',
  0x03: 'power',
  0x04: 'out of range',
  0x05: 'invalid unit',
  0x06: 'invalid control',
  0x07: 'invalid request',
  0x08: 'invalid value within range',
  0xff: 'unknown',
};

/** Values of STREAM_ERROR_CODE_CONTROL. */
export const STREAM_ERROR_TEXT: Readonly<Record<number, string>> = {
  0: 'no error',
  1: 'protected content',
  2: 'input buffer underrun',
  3: 'data discontinuity',
  4: 'output buffer underrun',
  5: 'output buffer overrun',
  6: 'format change',
  7: 'still image capture error',
};

/** Camera terminal control selectors. Their bmControls bit is NOT always selector − 1: see CT_CONTROL_BIT. */
export const CtControl = {
  SCANNING_MODE: 0x01,
  AE_MODE: 0x02,
  AE_PRIORITY: 0x03,
  EXPOSURE_TIME_ABSOLUTE: 0x04,
  EXPOSURE_TIME_RELATIVE: 0x05,
  FOCUS_ABSOLUTE: 0x06,
  FOCUS_RELATIVE: 0x07,
  FOCUS_AUTO: 0x08,
  IRIS_ABSOLUTE: 0x09,
  IRIS_RELATIVE: 0x0a,
  ZOOM_ABSOLUTE: 0x0b,
  ZOOM_RELATIVE: 0x0c,
  PANTILT_ABSOLUTE: 0x0d,
  PANTILT_RELATIVE: 0x0e,
  ROLL_ABSOLUTE: 0x0f,
  ROLL_RELATIVE: 0x10,
  PRIVACY: 0x11,
  FOCUS_SIMPLE: 0x12,
  WINDOW: 0x13,
  REGION_OF_INTEREST: 0x14,
} as const;

/** Camera terminal: selector → bit in bmControls. */
export const CT_CONTROL_BIT: Readonly<Record<number, number>> = {
  0x01: 0,
  0x02: 1,
  0x03: 2,
  0x04: 3,
  0x05: 4,
  0x06: 5,
  0x07: 6,
  0x08: 17,
  0x09: 7,
  0x0a: 8,
  0x0b: 9,
  0x0c: 10,
  0x0d: 11,
  0x0e: 12,
  0x0f: 13,
  0x10: 14,
  0x11: 18,
  0x12: 19,
  0x13: 20,
  0x14: 21,
};

/** AE_MODE bitmap values. */
export const AeMode = {
  MANUAL: 0x01,
  AUTO: 0x02,
  SHUTTER_PRIORITY: 0x04,
  APERTURE_PRIORITY: 0x08,
} as const;

/** Processing unit control selectors. */
export const PuControl = {
  BACKLIGHT_COMPENSATION: 0x01,
  BRIGHTNESS: 0x02,
  CONTRAST: 0x03,
  GAIN: 0x04,
  POWER_LINE_FREQUENCY: 0x05,
  HUE: 0x06,
  SATURATION: 0x07,
  SHARPNESS: 0x08,
  GAMMA: 0x09,
  WHITE_BALANCE_TEMPERATURE: 0x0a,
  WHITE_BALANCE_TEMPERATURE_AUTO: 0x0b,
  WHITE_BALANCE_COMPONENT: 0x0c,
  WHITE_BALANCE_COMPONENT_AUTO: 0x0d,
  DIGITAL_MULTIPLIER: 0x0e,
  DIGITAL_MULTIPLIER_LIMIT: 0x0f,
  HUE_AUTO: 0x10,
  ANALOG_VIDEO_STANDARD: 0x11,
  ANALOG_LOCK_STATUS: 0x12,
  CONTRAST_AUTO: 0x13,
} as const;

/** Processing unit: selector → bit in bmControls. */
export const PU_CONTROL_BIT: Readonly<Record<number, number>> = {
  0x01: 8,
  0x02: 0,
  0x03: 1,
  0x04: 9,
  0x05: 10,
  0x06: 2,
  0x07: 3,
  0x08: 4,
  0x09: 5,
  0x0a: 6,
  0x0b: 12,
  0x0c: 7,
  0x0d: 13,
  0x0e: 14,
  0x0f: 15,
  0x10: 11,
  0x11: 16,
  0x12: 17,
  0x13: 18,
};

/**
 * The GET requests the specification defines for a standard control, beyond GET_INFO and GET_CUR (which every
 * control has): `range` is GET_MIN + GET_MAX + GET_RES (numeric controls, and the speed of relative ones), `res` is
 * GET_RES alone (AE mode: the bitmap of supported modes), `def` is GET_DEF. GET_LEN is for extension units only.
 * Booleans, bitmaps and status controls have no range: asking is undefined and real cameras stall it at best.
 * (UVC 1.5 tables 4-13 to 4-44; uvcvideo's uvc_ctrls[] flags say the same.)
 */
export interface ControlRequests {
  range: boolean;
  res: boolean;
  def: boolean;
}

const RANGED: ControlRequests = { range: true, res: true, def: true };
const SWITCH: ControlRequests = { range: false, res: false, def: true };
const STATUS: ControlRequests = { range: false, res: false, def: false };

/** Camera terminal: selector → defined requests. */
export const CT_CONTROL_REQUESTS: Readonly<Record<number, ControlRequests>> = {
  [CtControl.SCANNING_MODE]: STATUS,
  [CtControl.AE_MODE]: { range: false, res: true, def: true },
  [CtControl.AE_PRIORITY]: STATUS,
  [CtControl.EXPOSURE_TIME_ABSOLUTE]: RANGED,
  [CtControl.EXPOSURE_TIME_RELATIVE]: STATUS,
  [CtControl.FOCUS_ABSOLUTE]: RANGED,
  [CtControl.FOCUS_RELATIVE]: RANGED,
  [CtControl.FOCUS_AUTO]: SWITCH,
  [CtControl.IRIS_ABSOLUTE]: RANGED,
  [CtControl.IRIS_RELATIVE]: STATUS,
  [CtControl.ZOOM_ABSOLUTE]: RANGED,
  [CtControl.ZOOM_RELATIVE]: RANGED,
  [CtControl.PANTILT_ABSOLUTE]: RANGED,
  [CtControl.PANTILT_RELATIVE]: RANGED,
  [CtControl.ROLL_ABSOLUTE]: RANGED,
  [CtControl.ROLL_RELATIVE]: RANGED,
  [CtControl.PRIVACY]: STATUS,
  [CtControl.FOCUS_SIMPLE]: SWITCH,
  [CtControl.WINDOW]: RANGED,
  [CtControl.REGION_OF_INTEREST]: RANGED,
};

/** Processing unit: selector → defined requests. */
export const PU_CONTROL_REQUESTS: Readonly<Record<number, ControlRequests>> = {
  [PuControl.BACKLIGHT_COMPENSATION]: RANGED,
  [PuControl.BRIGHTNESS]: RANGED,
  [PuControl.CONTRAST]: RANGED,
  [PuControl.GAIN]: RANGED,
  [PuControl.POWER_LINE_FREQUENCY]: SWITCH,
  [PuControl.HUE]: RANGED,
  [PuControl.SATURATION]: RANGED,
  [PuControl.SHARPNESS]: RANGED,
  [PuControl.GAMMA]: RANGED,
  [PuControl.WHITE_BALANCE_TEMPERATURE]: RANGED,
  [PuControl.WHITE_BALANCE_TEMPERATURE_AUTO]: SWITCH,
  [PuControl.WHITE_BALANCE_COMPONENT]: RANGED,
  [PuControl.WHITE_BALANCE_COMPONENT_AUTO]: SWITCH,
  [PuControl.DIGITAL_MULTIPLIER]: RANGED,
  [PuControl.DIGITAL_MULTIPLIER_LIMIT]: RANGED,
  [PuControl.HUE_AUTO]: SWITCH,
  [PuControl.ANALOG_VIDEO_STANDARD]: STATUS,
  [PuControl.ANALOG_LOCK_STATUS]: STATUS,
  [PuControl.CONTRAST_AUTO]: SWITCH,
};

/** Wire size in bytes of each camera terminal control (UVC 1.5 4.2.2.1), by selector. */
export const CT_CONTROL_SIZE: Readonly<Record<number, number>> = {
  [CtControl.SCANNING_MODE]: 1,
  [CtControl.AE_MODE]: 1,
  [CtControl.AE_PRIORITY]: 1,
  [CtControl.EXPOSURE_TIME_ABSOLUTE]: 4,
  [CtControl.EXPOSURE_TIME_RELATIVE]: 1,
  [CtControl.FOCUS_ABSOLUTE]: 2,
  [CtControl.FOCUS_RELATIVE]: 2,
  [CtControl.FOCUS_AUTO]: 1,
  [CtControl.IRIS_ABSOLUTE]: 2,
  [CtControl.IRIS_RELATIVE]: 1,
  [CtControl.ZOOM_ABSOLUTE]: 2,
  [CtControl.ZOOM_RELATIVE]: 3,
  [CtControl.PANTILT_ABSOLUTE]: 8,
  [CtControl.PANTILT_RELATIVE]: 4,
  [CtControl.ROLL_ABSOLUTE]: 2,
  [CtControl.ROLL_RELATIVE]: 2,
  [CtControl.PRIVACY]: 1,
  [CtControl.FOCUS_SIMPLE]: 1,
  [CtControl.WINDOW]: 12,
  [CtControl.REGION_OF_INTEREST]: 10,
};

/** Wire size in bytes of each processing unit control (UVC 1.5 4.2.2.3), by selector. */
export const PU_CONTROL_SIZE: Readonly<Record<number, number>> = {
  [PuControl.BACKLIGHT_COMPENSATION]: 2,
  [PuControl.BRIGHTNESS]: 2,
  [PuControl.CONTRAST]: 2,
  [PuControl.GAIN]: 2,
  [PuControl.POWER_LINE_FREQUENCY]: 1,
  [PuControl.HUE]: 2,
  [PuControl.SATURATION]: 2,
  [PuControl.SHARPNESS]: 2,
  [PuControl.GAMMA]: 2,
  [PuControl.WHITE_BALANCE_TEMPERATURE]: 2,
  [PuControl.WHITE_BALANCE_TEMPERATURE_AUTO]: 1,
  [PuControl.WHITE_BALANCE_COMPONENT]: 4,
  [PuControl.WHITE_BALANCE_COMPONENT_AUTO]: 1,
  [PuControl.DIGITAL_MULTIPLIER]: 2,
  [PuControl.DIGITAL_MULTIPLIER_LIMIT]: 2,
  [PuControl.HUE_AUTO]: 1,
  [PuControl.ANALOG_VIDEO_STANDARD]: 1,
  [PuControl.ANALOG_LOCK_STATUS]: 1,
  [PuControl.CONTRAST_AUTO]: 1,
};

/** Selector unit input select, encoding unit and extension unit controls: every GET but GET_LEN (XUs: all). */
export const RANGED_CONTROL_REQUESTS: ControlRequests = RANGED;

/** Payload header: bmHeaderInfo bits. */
export const PayloadHeader = {
  FID: 1 << 0,
  EOF: 1 << 1,
  PTS: 1 << 2,
  SCR: 1 << 3,
  RES: 1 << 4,
  STI: 1 << 5,
  ERR: 1 << 6,
  EOH: 1 << 7,
} as const;

/** Probe/commit control block: byte offsets and the lengths the versions define. */
export const ProbeField = {
  bmHint: 0,
  bFormatIndex: 2,
  bFrameIndex: 3,
  dwFrameInterval: 4,
  wKeyFrameRate: 8,
  wPFrameRate: 10,
  wCompQuality: 12,
  wCompWindowSize: 14,
  wDelay: 16,
  dwMaxVideoFrameSize: 18,
  dwMaxPayloadTransferSize: 22,
  dwClockFrequency: 26,
  bmFramingInfo: 30,
  bPreferedVersion: 31,
  bMinVersion: 32,
  bMaxVersion: 33,
  bUsage: 34,
  bBitDepthLuma: 35,
  bmSettings: 36,
  bMaxNumberOfRefFramesPlus1: 37,
  bmRateControlModes: 38,
  bmLayoutPerStream: 40,
} as const satisfies Record<keyof ProbeFields, number>;

/**
 * The fields of the probe/commit block by the specification's names (UVC 1.5, table 4-75), the one spelling the
 * driver and the virtual camera share (as uvcvideo and the UVC gadget share struct uvc_streaming_control).
 * UVC 1.0 defines the first 26 bytes; 1.1 adds the next 8; 1.5 the last 14.
 */
export interface ProbeFieldsUvc10 {
  bmHint: number;
  bFormatIndex: number;
  bFrameIndex: number;
  /** 100 ns units. */
  dwFrameInterval: number;
  wKeyFrameRate: number;
  wPFrameRate: number;
  wCompQuality: number;
  wCompWindowSize: number;
  wDelay: number;
  dwMaxVideoFrameSize: number;
  dwMaxPayloadTransferSize: number;
}

export interface ProbeFieldsUvc11 {
  dwClockFrequency: number;
  bmFramingInfo: number;
  bPreferedVersion: number;
  bMinVersion: number;
  bMaxVersion: number;
}

export interface ProbeFieldsUvc15 {
  bUsage: number;
  bBitDepthLuma: number;
  bmSettings: number;
  bMaxNumberOfRefFramesPlus1: number;
  bmRateControlModes: number;
  /** 8 bytes. */
  bmLayoutPerStream: Uint8Array;
}

/** Every field of a 48-byte block. */
export type ProbeFields = ProbeFieldsUvc10 & ProbeFieldsUvc11 & ProbeFieldsUvc15;

export const PROBE_LENGTH_UVC10 = 26;
export const PROBE_LENGTH_UVC11 = 34;
export const PROBE_LENGTH_UVC15 = 48;

/** bmHint bits of the probe block. */
export const ProbeHint = {
  FRAME_INTERVAL: 1 << 0,
  KEY_FRAME_RATE: 1 << 1,
  P_FRAME_RATE: 1 << 2,
  COMP_QUALITY: 1 << 3,
  COMP_WINDOW_SIZE: 1 << 4,
} as const;

/** bmFramingInfo bits (1.1+). */
export const FramingInfo = {
  FID_REQUIRED: 1 << 0,
  EOF_PRESENT: 1 << 1,
} as const;

/** Status interrupt packets. */
export const StatusType = {
  VIDEO_CONTROL: 0x01,
  VIDEO_STREAMING: 0x02,
} as const;

export const StatusAttribute = {
  VALUE_CHANGE: 0x00,
  INFO_CHANGE: 0x01,
  FAILURE_CHANGE: 0x02,
  MIN_CHANGE: 0x03,
  MAX_CHANGE: 0x04,
} as const;

/** A 16-byte GUID whose first four bytes are the FourCC, as uncompressed and frame-based formats use them. */
export function fourccGuid(fourcc: string): Uint8Array {
  if (fourcc.length !== 4) throw new RangeError(`fourcc must be 4 characters: ${fourcc}`);
  const tail = [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
  return Uint8Array.from([...Array.from(fourcc, (c) => c.charCodeAt(0) & 0xff), ...tail]);
}

/** bcdUVC / bcdVersion: 0x0110 → '1.10'. */
export function bcdToVersion(bcd: number): string {
  const major = (bcd >> 8) & 0xff;
  const minor = bcd & 0xff;
  return `${major.toString(16)}.${minor.toString(16).padStart(2, '0')}`;
}
