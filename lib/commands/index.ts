// The command table: each verb to its handler, after the rules that apply to every command
// (a refused connection serves only QUIT; faults from the parser are counted errors).

import type { Host } from '../host.js'
import { isFault, type Command, type Fault } from '../parser.js'
import { REPLIES } from '../replies.js'
import { auth, authOutOfSequence } from './auth.js'
import { bdat, data, skipChunk } from './data.js'
import { mail, rcpt } from './envelope.js'
import { hello, noop, query, quit, rset } from './session.js'

export { greet } from './session.js'
export { hasAuthListener } from './guards.js'
import { starttls } from './tls.js'
import { xclient, xforward } from './xclient.js'

// RFC 3207 §4: under a required TLS policy, only these work before TLS (LHLO is LMTP's EHLO).
const BEFORE_TLS = new Set(['NOOP', 'EHLO', 'LHLO', 'STARTTLS', 'QUIT'])

/** Runs one parsed command line. */
export function handleCommand(host: Host, parsed: Command | Fault): void {
  if (host.session.refused && !(!isFault(parsed) && parsed.verb === 'QUIT')) {
    host.sendError(REPLIES.rejectedConnection)
    return
  }
  // Checked before the syntax: a malformed MAIL or a bare AUTH is still a command that needs TLS first.
  const needsTls = host.options.tlsPolicy === 'required' && !host.session.info.tls && parsed.verb !== null && !BEFORE_TLS.has(parsed.verb)
  if (isFault(parsed)) {
    // A BDAT whose size cannot be read leaves its chunk unframed: reading on would run the
    // chunk's bytes as commands, so the session ends here.
    if (parsed.verb === 'BDAT') host.close('protocol', REPLIES.badBdatSyntax)
    else if (needsTls) host.send(REPLIES.tlsRequired)
    else host.sendError((parsed.verb === 'AUTH' ? authOutOfSequence(host) : null) ?? REPLIES[parsed.fault])
    return
  }
  if (needsTls) {
    // A BDAT's chunk follows its line whatever the reply: read past it, or it would run as commands.
    if (parsed.verb === 'BDAT') return skipChunk(host, parsed.size, REPLIES.tlsRequired)
    host.send(REPLIES.tlsRequired)
    return
  }
  switch (parsed.verb) {
    case 'HELO':
    case 'EHLO':
    case 'LHLO':
      return hello(host, parsed)
    case 'MAIL':
      return mail(host, parsed)
    case 'RCPT':
      return rcpt(host, parsed)
    case 'DATA':
      return data(host)
    case 'BDAT':
      return bdat(host, parsed)
    case 'RSET':
      return rset(host)
    case 'NOOP':
      return noop(host)
    case 'QUIT':
      return quit(host)
    case 'VRFY':
    case 'EXPN':
    case 'HELP':
      return query(host, parsed)
    case 'STARTTLS':
      return starttls(host)
    case 'AUTH':
      return auth(host, parsed)
    case 'XCLIENT':
      return xclient(host, parsed)
    case 'XFORWARD':
      return xforward(host, parsed)
  }
}
