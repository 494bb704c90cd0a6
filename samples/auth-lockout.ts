// Locks a client address out of AUTH after too many failed attempts across sessions (the idea of
// Net::Receiver's max_failed_msgs_per_period), using the `authFailure` and `auth` hooks.
//
// Why AUTH only, and not the whole of SMTP: an MX receives mail from anyone, and many clients can
// share one address (a carrier-grade NAT, an office, a hosting provider's outbound relays). Refusing
// every connection from an address because one machine behind it guesses passwords would bounce
// or delay the mail of everyone else there, and hand an attacker a cheap way to cut a network off
// from us. Refusing AUTH alone stops the guessing (and a right password found by it) and leaves
// unauthenticated delivery, which never needed a password, to the MX's other rules.

import { SmtpError, type SmtpProtocol } from '../lib/index.js'

/** Addresses remembered at most, by default: the oldest is forgotten first (about 100 B each). */
export const DEFAULT_MAX_ADDRESSES = 10_000

/** Counts failed AUTH attempts per client address in a sliding period, for a bounded number of addresses. */
export class AuthLockout {
  /** Recent failure times per address, oldest first; the Map's order is least recently failed first. */
  private readonly failures = new Map<string, number[]>()

  /**
   * `limit` failures within `periodMs` lock an address out of AUTH until they age out; 0 turns it
   * off. At most `maxAddresses` addresses are remembered, so a flood of failing addresses costs a
   * bounded amount of memory (the least recently failing address is forgotten first).
   */
  constructor(
    private readonly limit: number,
    private readonly periodMs: number,
    private readonly maxAddresses = DEFAULT_MAX_ADDRESSES,
  ) {}

  /** Addresses remembered now. */
  get size(): number {
    return this.failures.size
  }

  /** True while `address` is locked out. */
  isLocked(address: string, now = Date.now()): boolean {
    if (this.limit === 0) return false
    const recent = this.recent(address, now)
    if (recent.length === 0) this.failures.delete(address)
    return recent.length >= this.limit
  }

  /** Records one failed attempt from `address`. */
  record(address: string, now = Date.now()): void {
    if (this.limit === 0) return
    const recent = this.recent(address, now)
    recent.push(now)
    // Only the last `limit` times can decide a lockout: one address cannot grow its list either.
    if (recent.length > this.limit) recent.splice(0, recent.length - this.limit)
    this.failures.delete(address) // re-inserted last: the Map's order is the eviction order
    this.failures.set(address, recent)
    // A Map iterates in insertion order, so its first key is the least recently failing address.
    while (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value as string)
  }

  /**
   * Counts failures of `smtp`'s client and refuses AUTH from a locked-out address with `454 4.7.0`
   * (even with the right password); the session goes on, so mail that needs no AUTH still arrives.
   * Its `auth` listener returns `true` when the address is not locked: AUTH needs every listener's
   * `true`, so the credential check (another listener) still decides.
   */
  watch(smtp: SmtpProtocol): void {
    if (this.limit === 0) return
    smtp.on('auth', ({ session }) => {
      if (this.isLocked(session.remoteAddress)) throw new SmtpError(454, 'Too many failed logins from your address, try later', '4.7.0')
      return true
    })
    smtp.on('authFailure', ({ session }) => this.record(session.remoteAddress))
  }

  /** Failure times of `address` still inside the period (and the stored list pruned to them). */
  private recent(address: string, now: number): number[] {
    const list = this.failures.get(address)
    if (!list) return []
    const fresh = list.filter((at) => now - at < this.periodMs)
    if (fresh.length !== list.length) this.failures.set(address, fresh)
    return fresh
  }
}
