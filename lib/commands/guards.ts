// Preconditions several commands share, each written once: which reply a transaction command gets
// without a transaction, and whether AUTH can be on offer at all.

import type { Host } from '../host.js'
import { REPLIES, type Reply } from '../replies.js'
import type { SessionInfo } from '../session-info.js'

/** RCPT, DATA or BDAT with no transaction open: 503, asking for HELO first if the client never greeted. */
export function noTransactionReply(session: SessionInfo): Reply {
  return session.heloVerb ? REPLIES.needMail : REPLIES.needHelo
}

/** True when someone can check credentials (a `plainAuth` or `auth` listener). */
export function hasAuthListener(host: Host): boolean {
  return host.hasListeners('plainAuth') || host.hasListeners('auth')
}
