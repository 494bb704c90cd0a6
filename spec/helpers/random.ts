// A small seeded PRNG (mulberry32) so randomised specs can be replayed from a printed seed.

/** A deterministic source of random numbers from a 32-bit seed. */
export class Random {
  private state: number
  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)]
    if (item === undefined) throw new Error('pick from an empty array')
    return item
  }

  /** `bytes` cut at random points into pieces (some of them one byte long). */
  split(bytes: Buffer, maxPieces = 12): Buffer[] {
    const cuts = new Set<number>()
    const count = this.int(maxPieces)
    for (let i = 0; i < count; i++) cuts.add(1 + this.int(Math.max(1, bytes.length - 1)))
    const points = [...cuts].filter((c) => c < bytes.length).sort((a, b) => a - b)
    const pieces: Buffer[] = []
    let from = 0
    for (const point of points) {
      pieces.push(bytes.subarray(from, point))
      from = point
    }
    pieces.push(bytes.subarray(from))
    return pieces
  }
}

/** The seed for a randomised spec: SMTPWIRE_SEED when set (to replay a failure), else a fresh one. */
export function specSeed(): number {
  const fromEnv = process.env['SMTPWIRE_SEED']
  return fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)
}
