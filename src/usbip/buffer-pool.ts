/**
 * Reuses reply buffers. A streaming host submits the same few URB sizes over and over (an iso stream: thousands
 * of packets a second in URBs of one size), so exact-size buckets catch nearly every request and the hot path
 * allocates no large buffer after warm-up. Buffers are zeroed once when first made; a reused one holds bytes of
 * an earlier transfer of the same session, never anything else.
 */
export class BufferPool {
  private readonly buckets = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  constructor(
    /** Upper bound on the bytes kept idle in the pool. */
    private readonly maxPooledBytes = 32 * 1024 * 1024,
    /** Upper bound on idle buffers of one size. */
    private readonly maxPerSize = 64,
  ) {}

  take(size: number): Buffer {
    const bucket = this.buckets.get(size);
    const b = bucket?.pop();
    if (b !== undefined) {
      this.pooledBytes -= size;
      return b;
    }
    return Buffer.alloc(size);
  }

  give(b: Buffer): void {
    const size = b.length;
    if (this.pooledBytes + size > this.maxPooledBytes) return;
    let bucket = this.buckets.get(size);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(size, bucket);
    }
    if (bucket.length >= this.maxPerSize) return;
    bucket.push(b);
    this.pooledBytes += size;
  }

  /** Bytes held idle (for tests and stats). */
  get idleBytes(): number {
    return this.pooledBytes;
  }
}
