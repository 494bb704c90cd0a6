// STARTTLS (RFC 3207): checks, then hands over to the engine, which discards pipelined plaintext
// and asks the transport to upgrade.

import type { Host } from '../host.js'
import { REPLIES } from '../replies.js'

/** STARTTLS (the command; the engine's `beginTls` does the upgrade). */
export function starttls(host: Host): void {
  const { session } = host
  if (session.tls) return host.sendError(REPLIES.alreadySecure)
  if (!host.capabilities().canStartTls) return host.sendError(REPLIES.commandNotImplemented)
  if (session.heloVerb !== 'EHLO' && session.heloVerb !== 'LHLO') return host.sendError(REPLIES.needEhlo)
  host.beginTls()
}
