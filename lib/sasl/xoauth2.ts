// Google's SASL XOAUTH2: one client message `user=<user>^Aauth=Bearer <token>^A^A`, as the AUTH
// initial response or after an empty challenge. Only parsing: the engine does the error dance.

import { fail, type SaslFailure } from './base64.js'
import { OneMessageExchange } from './one-message.js'
import type { SaslExchange, SaslMechanism, SaslStep } from './types.js'

/** The auth value's scheme; RFC 7235 §2.1 makes the scheme name case-insensitive. */
const BEARER = /^bearer /i

/** Reads the `key=value` pairs of an XOAUTH2 message, or passes a decoding failure on. */
function readMessage(text: string | SaslFailure): SaslStep {
  if (typeof text !== 'string') return text
  let user: string | undefined
  let auth: string | undefined
  for (const pair of text.split('\x01')) {
    // The message ends in ^A^A; empty pairs carry nothing, so a missing terminator is forgiven.
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) return fail('syntaxError')
    const key = pair.slice(0, eq)
    const value = pair.slice(eq + 1)
    // A repeated key is refused: the application and anything in front of it could read different ones.
    if (key === 'user') {
      if (user !== undefined) return fail('syntaxError')
      user = value
    } else if (key === 'auth') {
      if (auth !== undefined) return fail('syntaxError')
      auth = value
    }
    // Other keys (host, port in later revisions) are ignored.
  }
  if (user === undefined || user === '' || auth === undefined || !BEARER.test(auth)) return fail('syntaxError')
  const token = auth.slice('Bearer '.length)
  if (token === '') return fail('syntaxError')
  return { kind: 'credentials', credentials: { mechanism: 'XOAUTH2', username: user, token } }
}

/**
 * XOAUTH2. Marked plaintext: a bearer token is a replayable credential until it expires, so it is
 * kept off unencrypted connections like a password.
 */
export const xoauth2: SaslMechanism = Object.freeze({
  name: 'XOAUTH2',
  plaintext: true,
  exchange: (): SaslExchange => new OneMessageExchange('XOAUTH2', readMessage),
})
