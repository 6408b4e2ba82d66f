/**
 * One 'abort' listener per signal, however many requests share it. A host usually passes the same signal with
 * every transfer of a stream (the in-process host does); a listener per queued request would pass Node's
 * per-target listener limit (10) with a deep queue and print a MaxListenersExceededWarning.
 */
export class AbortWatch<T> {
  private readonly watched = new Map<AbortSignal, { waiting: Set<T>; onAbort: () => void }>();

  constructor(private readonly onAbort: (item: T) => void) {}

  /** Calls onAbort(item) when `signal` aborts; returns the function that stops watching it. */
  watch(signal: AbortSignal, item: T): () => void {
    let entry = this.watched.get(signal);
    if (entry === undefined) {
      const waiting = new Set<T>();
      const onAbort = (): void => {
        this.watched.delete(signal);
        for (const waiter of [...waiting]) this.onAbort(waiter);
        waiting.clear();
      };
      entry = { waiting, onAbort };
      this.watched.set(signal, entry);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const { waiting } = entry;
    waiting.add(item);
    return () => {
      waiting.delete(item);
      if (waiting.size === 0 && this.watched.get(signal) === entry) {
        this.watched.delete(signal);
        signal.removeEventListener('abort', entry.onAbort);
      }
    };
  }
}
