// STARTTLS (RFC 3207): checks, then hands over to the engine, which discards pipelined plaintext
// and asks the transport to upgrade.

import { canStartTls } from '../capabilities.js'
import type { Host } from '../host.js'
import { REPLIES } from '../replies.js'
import { greetedExtended } from '../session.js'

/** STARTTLS (the command; the engine's `beginTls` does the upgrade). */
export function starttls(host: Host): void {
  const session = host.session.info
  if (session.tls) return host.sendError(REPLIES.alreadySecure)
  if (!canStartTls(host.options, session, host.canUpgrade)) return host.sendError(REPLIES.commandNotImplemented)
  if (!greetedExtended(session)) return host.sendError(REPLIES.needEhlo)
  host.beginTls()
}
