/**
 * The small vocabulary every part of the virtual camera shares (speed, transfer type, UVC version, pace, how an
 * invalid option is reported). It imports nothing, so any file may import it without closing a cycle:
 * options.ts resolves options by calling formats.ts, faults.ts and device-layout.ts, which only need these words.
 */

export type UvcVersion = '1.0' | '1.1' | '1.5';
export type VirtualSpeed = 'full' | 'high' | 'super';
export type VirtualTransfer = 'iso' | 'bulk';
/**
 * 'realtime': bus intervals follow the wall clock (125 µs microframes, 1 ms frames at full speed) and frames
 * are captured at the negotiated interval. 'fast': a virtual bus clock advances only as the host asks for
 * data; frames follow each other back to back with no idle time and nothing is lost (benchmarks).
 */
export type Pace = 'realtime' | 'fast';

/** Rejects an option: throws a UvcError EINVAL naming it (options.ts supplies the one implementation). */
export type InvalidOption = (message: string, details?: Record<string, unknown>) => never;
