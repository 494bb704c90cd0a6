// Locks a client address out after too many failed AUTH attempts across sessions (the idea of
// Net::Receiver's max_failed_msgs_per_period), using the `authFailure` and `connect` hooks.

import { SmtpError, type SmtpProtocol } from '../lib/index.js'

/** Counts failed AUTH attempts per client address in a sliding period. */
export class AuthLockout {
  private readonly failures = new Map<string, number[]>()

  /** `limit` failures within `periodMs` lock an address out until they age out; 0 turns it off. */
  constructor(
    private readonly limit: number,
    private readonly periodMs: number,
  ) {}

  /** True while `address` is locked out. */
  isLocked(address: string, now = Date.now()): boolean {
    if (this.limit === 0) return false
    const recent = (this.failures.get(address) ?? []).filter((at) => now - at < this.periodMs)
    if (recent.length === 0) this.failures.delete(address)
    else this.failures.set(address, recent)
    return recent.length >= this.limit
  }

  /**
   * Records failures of `smtp`'s client and refuses a locked-out client at connect and at AUTH.
   * It hooks `auth`, which runs after `plainAuth`: a wrong password is still refused (and counted)
   * by the credential check, and a right one from a locked-out address gets 421.
   */
  watch(smtp: SmtpProtocol): void {
    if (this.limit === 0) return
    const refuse = (address: string): void => {
      if (this.isLocked(address)) throw new SmtpError(421, 'Too many failed logins from your address, try later', '4.7.0')
    }
    smtp.on('connect', ({ session }) => refuse(session.remoteAddress))
    smtp.on('auth', ({ session }) => refuse(session.remoteAddress))
    smtp.on('authFailure', ({ session }) => {
      const list = this.failures.get(session.remoteAddress) ?? []
      list.push(Date.now())
      this.failures.set(session.remoteAddress, list)
    })
  }
}
