// SmtpServer's maxConnections and maxConnectionsPerAddress: a slot per connection, taken when it is
// accepted (before any PROXY header or TLS handshake) and given back when it ends. Bookkeeping only.

import { REPLIES, type Reply } from './replies.js'

/** One connection's place in the count. */
export class ConnectionSlot {
  private released = false

  constructor(
    private readonly limits: ConnectionLimits,
    /** The address it is counted under: the socket's until a PROXY header names the client. */
    public address: string,
  ) {}

  /**
   * Counts the connection under `address` from now on (a PROXY header named the client). Returns
   * the 421 when that address is over its limit; the slot is then still held under the old one.
   */
  moveTo(address: string): Reply | null {
    if (this.released || address === this.address) return null
    const refusal = this.limits.refusal(address, false)
    if (refusal) return refusal
    this.limits.remove(this.address)
    this.limits.add(address)
    this.address = address
    return null
  }

  /** Gives the slot back; calling it again does nothing. */
  release(): void {
    if (this.released) return
    this.released = true
    this.limits.count--
    this.limits.remove(this.address)
  }
}

/** Counts open connections, in all and per client address. */
export class ConnectionLimits {
  count = 0
  private readonly perAddress = new Map<string, number>()

  /** Limits of 0 mean none. */
  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {}

  /** A slot for a new connection from `address`, or the 421 for a client over a limit. */
  take(address: string): ConnectionSlot | Reply {
    const refusal = this.refusal(address, true)
    if (refusal) return refusal
    this.count++
    this.add(address)
    return new ConnectionSlot(this, address)
  }

  /** Connections counted under `address` now. */
  countOf(address: string): number {
    return this.perAddress.get(address) ?? 0
  }

  /** The 421 for one more connection from `address` (counting it in the total, or not when it is already counted). */
  refusal(address: string, isNew: boolean): Reply | null {
    if (isNew && this.max > 0 && this.count >= this.max) return REPLIES.tooManyConnections
    if (this.maxPerAddress > 0 && this.countOf(address) >= this.maxPerAddress) return REPLIES.tooManyConnectionsFromAddress
    return null
  }

  // Without maxConnectionsPerAddress nothing reads the counts per address: none are kept.
  add(address: string): void {
    if (this.maxPerAddress > 0) this.perAddress.set(address, this.countOf(address) + 1)
  }

  remove(address: string): void {
    if (this.maxPerAddress === 0) return
    const left = this.countOf(address) - 1
    if (left > 0) this.perAddress.set(address, left)
    else this.perAddress.delete(address)
  }
}
