/**
 * Scores a capture against the virtual camera's ground truth (`camera.sentFrames`): how well a driver's error
 * flag tells damaged frames from whole ones (precision and recall of `flags.error`), and which frames it lost.
 * It knows nothing of any driver: a received frame is its stamp (decodeFrameStamp), the driver's sequence
 * number, and whether the driver flagged it.
 */
import type { FrameFault, SentFrame } from './sent-frames.js';

export interface ReceivedFrame {
  /** The number read from the frame's stamp, or null/absent when unreadable (a damaged frame, say). */
  stamp?: number | null;
  /** The driver's sequence number for the frame (buffer.sequence). */
  sequence?: number;
  /** The driver flagged the frame (buffer.flags.error). */
  error: boolean;
  /**
   * The driver's timestamp for it (buffer.timestamp, host clock ns). Places a frame without a stamp among the
   * frames sent between its stamped neighbours by capture instant, which the sequence cannot do when the camera
   * skipped frames in between (the driver cannot count what was never sent).
   */
  timestamp?: number;
}

export interface ScoreOptions {
  /** Which stream of the camera to score. Default: the newest in `sent`. */
  stream?: number;
  /** The camera's frameCache, when set: stamps repeat every `frameCache` frames. */
  frameCache?: number;
}

export interface FaultScore {
  /** Frames the device committed this fault on (and sent to a listening host). */
  frames: number;
  flagged: number;
  unflagged: number;
  lost: number;
}

export interface CaptureScore {
  stream: number;
  /** Received frames matched to a sent frame (by stamp, or by sequence next to a stamped one). */
  matched: number;
  /** Received frames that could not be matched (no stamp, no stamped neighbour to place them by sequence). */
  unmatched: number;
  /** Received frames matched to a sent frame already matched. */
  duplicates: number;
  /** Flagged and damaged / flagged but whole / unflagged but damaged / unflagged and whole. */
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  trueNegatives: number;
  /** Of the flagged frames, the share that was damaged (1 when none was flagged). */
  precision: number;
  /** Of the damaged frames received, the share that was flagged (1 when none was damaged). */
  recall: number;
  /** Sent while the host listened, within the scored range (first to last matched frame), never received. */
  lost: number;
  /** Of those, frames the device sent whole: a driver must not lose them. */
  wholeLost: number;
  /** Frames the device skipped (never sent) and frames that went out with nobody listening, in the range. */
  skipped: number;
  unheard: number;
  /** Per fault the device committed (frames may carry several). */
  byFault: Partial<Record<FrameFault, FaultScore>>;
}

/**
 * Matches `received` to the camera's `sent` records and counts. The scored range runs from the first to the
 * last matched frame (frames before the driver's first frame or still on their way at the end are not lost).
 */
export function scoreCapture(sent: readonly Readonly<SentFrame>[], received: readonly ReceivedFrame[], options: ScoreOptions = {}): CaptureScore {
  const stream = options.stream ?? (sent.length > 0 ? sent[sent.length - 1]!.stream : 0);
  const frames = sent.filter((f) => f.stream === stream);
  const bySequence = new Map<number, Readonly<SentFrame>>();
  for (const f of frames) bySequence.set(f.sequence, f);
  const cache = options.frameCache;

  // Place every received frame: its stamp names it; without one, its sequence is placed by the offset between
  // stamp and driver sequence of the nearest stamped frame before it (or after it, at the start).
  const placed: (number | null)[] = new Array<number | null>(received.length).fill(null);
  let offset: number | null = null;
  let lastSeq = -1;
  const stampToSequence = (stamp: number): number => {
    if (cache === undefined) return stamp;
    // The stamp gives the sequence mod frameCache: the first such sequence after the last placed frame.
    return lastSeq + 1 + ((((stamp - (lastSeq + 1)) % cache) + cache) % cache);
  };
  for (let i = 0; i < received.length; i++) {
    const r = received[i]!;
    if (r.stamp !== undefined && r.stamp !== null) {
      const s = stampToSequence(r.stamp);
      placed[i] = s;
      lastSeq = s;
      if (r.sequence !== undefined) offset = s - r.sequence;
    } else if (offset !== null && r.sequence !== undefined) {
      placed[i] = r.sequence + offset;
      lastSeq = placed[i]!;
    }
  }
  // Unstamped frames before the first stamped one: the first offset found, backwards.
  const firstStamped = received.findIndex((r) => r.stamp !== undefined && r.stamp !== null && r.sequence !== undefined);
  if (firstStamped > 0) {
    const first = received[firstStamped]!;
    const back = placed[firstStamped]! - first.sequence!;
    for (let i = 0; i < firstStamped; i++) {
      const r = received[i]!;
      if (placed[i] === null && r.sequence !== undefined) placed[i] = r.sequence + back;
    }
  }

  placeByTime(frames, received, placed);

  const score: CaptureScore = {
    stream,
    matched: 0,
    unmatched: 0,
    duplicates: 0,
    truePositives: 0,
    falsePositives: 0,
    falseNegatives: 0,
    trueNegatives: 0,
    precision: 1,
    recall: 1,
    lost: 0,
    wholeLost: 0,
    skipped: 0,
    unheard: 0,
    byFault: {},
  };
  const faultScore = (fault: FrameFault): FaultScore => (score.byFault[fault] ??= { frames: 0, flagged: 0, unflagged: 0, lost: 0 });
  const seen = new Set<number>();
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < received.length; i++) {
    const s = placed[i];
    const truth = s === null || s === undefined ? undefined : bySequence.get(s);
    if (truth === undefined) {
      score.unmatched++;
      continue;
    }
    if (seen.has(s!)) {
      score.duplicates++;
      continue;
    }
    seen.add(s!);
    score.matched++;
    low = Math.min(low, s!);
    high = Math.max(high, s!);
    const flagged = received[i]!.error;
    if (truth.damaged) {
      if (flagged) score.truePositives++;
      else score.falseNegatives++;
    } else if (flagged) score.falsePositives++;
    else score.trueNegatives++;
    for (const fault of truth.faults) {
      const f = faultScore(fault);
      f.frames++;
      if (flagged) f.flagged++;
      else f.unflagged++;
    }
  }
  for (const f of frames) {
    if (f.sequence < low || f.sequence > high || seen.has(f.sequence)) continue;
    if (f.status === 'skipped') score.skipped++;
    else if (f.unheard) score.unheard++;
    else if (f.status === 'sent') {
      score.lost++;
      if (!f.damaged) score.wholeLost++;
      for (const fault of f.faults) {
        const s = faultScore(fault);
        s.frames++;
        s.lost++;
      }
    }
  }
  const flagged = score.truePositives + score.falsePositives;
  const damaged = score.truePositives + score.falseNegatives;
  score.precision = flagged === 0 ? 1 : score.truePositives / flagged;
  score.recall = damaged === 0 ? 1 : score.truePositives / damaged;
  return score;
}

/**
 * Re-places frames without a stamp by their timestamp: among the frames sent (and heard) between the stamped
 * frames around them, the one whose capture instant, plus the delay the stamped frames show between capture and
 * timestamp, is nearest. Leaves the placement by sequence where timestamps are missing.
 */
function placeByTime(frames: readonly Readonly<SentFrame>[], received: readonly ReceivedFrame[], placed: (number | null)[]): void {
  const bySequence = new Map<number, Readonly<SentFrame>>();
  for (const f of frames) bySequence.set(f.sequence, f);
  const delays: number[] = [];
  const stamped = (i: number): boolean => received[i]!.stamp !== undefined && received[i]!.stamp !== null && placed[i] !== null;
  for (let i = 0; i < received.length; i++) {
    const t = received[i]!.timestamp;
    const truth = placed[i] === null ? undefined : bySequence.get(placed[i]!);
    if (stamped(i) && t !== undefined && truth !== undefined) delays.push(t - truth.captureNs);
  }
  if (delays.length === 0) return;
  delays.sort((a, b) => a - b);
  const delay = delays[delays.length >> 1]!;
  // Runs of frames without a stamp, each between its stamped neighbours (or the ends of the capture).
  let low = Number.NEGATIVE_INFINITY;
  let i = 0;
  while (i < received.length) {
    if (stamped(i)) {
      low = placed[i]!;
      i++;
      continue;
    }
    let end = i;
    while (end < received.length && !stamped(end)) end++;
    const high = end < received.length ? placed[end]! : Number.POSITIVE_INFINITY;
    const run: number[] = [];
    for (let k = i; k < end; k++) if (received[k]!.timestamp !== undefined) run.push(k);
    let candidates = frames.filter((f) => f.sequence > low && f.sequence < high && f.status === 'sent' && !f.unheard);
    // At an end of the capture no stamped frame bounds the run on that side: the driver's sequence numbers do. A
    // run after the last stamped frame reaches at most as many sent frames past it as the driver counted (frames
    // sent later are still on their way, not candidates), and one before the first stamped frame likewise.
    const steps = (a: number, b: number): number | null => {
      const sa = received[a]!.sequence;
      const sb = received[b]!.sequence;
      return sa === undefined || sb === undefined ? null : Math.max(0, sb - sa);
    };
    if (end === received.length && i > 0) {
      const reach = steps(i - 1, end - 1);
      if (reach !== null) candidates = candidates.slice(0, reach);
    } else if (i === 0 && end < received.length) {
      const reach = steps(0, end);
      if (reach !== null) candidates = candidates.slice(Math.max(0, candidates.length - reach));
    }
    if (run.length > 0 && candidates.length >= run.length) {
      // In order, each frame takes the candidate nearest in time that leaves enough for the frames after it.
      let from = 0;
      run.forEach((k, j) => {
        const t = received[k]!.timestamp! - delay;
        let best = from;
        for (let c = from; c <= candidates.length - (run.length - j); c++) {
          if (Math.abs(t - candidates[c]!.captureNs) < Math.abs(t - candidates[best]!.captureNs)) best = c;
        }
        placed[k] = candidates[best]!.sequence;
        from = best + 1;
      });
    }
    i = end;
  }
}
