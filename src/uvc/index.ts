/** The UVC protocol layer: descriptors, controls, format choice, probe/commit and bandwidth, status packets. */
export { parseUvcDescriptors } from './descriptors/parse.js';
export type * from './descriptors/model.js';
export { UvcControls } from './controls.js';
export type {
  ControlEntry,
  IntegerControlEntry,
  BooleanControlEntry,
  MenuControlEntry,
  CompoundControlEntry,
  RawControlEntry,
  ControlFlags,
  UvcControlsOptions,
} from './controls.js';
export type { ControlValue, CompoundValue } from './control-codec.js';
export type { ControlKind, MenuEntry } from './control-catalog.js';
export { selectFormat, nearestInterval, NEAREST_MATCH_RULE } from './format-selection.js';
export type { FormatRequest, FormatSelection } from './format-selection.js';
export { probe, commit, negotiateStream } from './probe-commit.js';
export type { StreamParameters, NegotiationOptions } from './probe-commit.js';
export { decodeProbeControl, encodeProbeControl, probeLengthForVersion } from './probe-block.js';
export type { ProbeControl } from './probe-block.js';
export { chooseAltSetting, estimatePayloadSize, suggestFittingMode } from './bandwidth.js';
export type { ModeSuggestion } from './bandwidth.js';
export { decodeStatusPacket } from './status.js';
export type { StatusEvent, ControlChangeEvent, ButtonEvent, UnknownStatusEvent } from './status.js';
export { getControl, setControl, readRequestErrorCode, errorCodeForRequestError } from './requests.js';
export type { ControlAddress, GetRequestName, RequestErrorInfo } from './requests.js';
export { QUIRKS, QUIRK_NAMES, QUIRK_TABLE, DeviceQuirks, quirkTableEntry, validateQuirkNames } from './quirks.js';
export type { QuirkName, QuirkSource, AppliedQuirk, QuirkTableEntry, DeviceIdentity } from './quirks.js';
export { applyDescriptorQuirks, statusIntervalUs } from './descriptor-quirks.js';
