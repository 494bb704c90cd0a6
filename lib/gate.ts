// A counting gate shared by sessions: at most `max` decisions run listener code at once, the rest
// wait their turn in order (the `maxProcessing` limit). Pure bookkeeping, no I/O.

/** Gives a slot back. */
export type Release = () => void

/** Limits how many decisions run listener code at once across the sessions that share it. */
export class ProcessingGate {
  private running = 0
  private readonly queue: Array<(release: Release) => void> = []

  /** @param max slots; must be at least 1 */
  constructor(readonly max: number) {}

  /** Decisions running now. */
  get active(): number {
    return this.running
  }

  /** Decisions waiting for a slot. */
  get waiting(): number {
    return this.queue.length
  }

  /** A slot at once, or null when all are taken. */
  tryAcquire(): Release | null {
    if (this.running >= this.max) return null
    this.running++
    return this.release()
  }

  /** Waits in line for a slot. */
  acquire(): Promise<Release> {
    const now = this.tryAcquire()
    if (now) return Promise.resolve(now)
    return new Promise((resolve) => this.queue.push(resolve))
  }

  private release(): Release {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.queue.shift()
      // The slot passes straight to the next in line; the count only drops when nobody waits.
      if (next) next(this.release())
      else this.running--
    }
  }
}
