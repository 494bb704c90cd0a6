// SASL PLAIN (RFC 4616): one message with an optional authorization identity, the authentication
// identity and the password, sent as the AUTH initial response or after an empty challenge.

import { fail, type SaslFailure } from './base64.js'
import { OneMessageExchange } from './one-message.js'
import type { SaslExchange, SaslMechanism, SaslStep } from './types.js'

/** Reads `[authzid] NUL authcid NUL passwd` (RFC 4616 §2), or passes a decoding failure on. */
function readMessage(text: string | SaslFailure): SaslStep {
  if (typeof text !== 'string') return text
  // RFC 4616 §2: exactly two NULs, so no field can hold one. authcid and passwd are 1*SAFE, so
  // neither may be empty; the empty message ('=') has one field and fails here too. Servers must
  // accept fields of at least 255 octets; no upper limit is set (the AUTH line limit bounds them).
  const fields = text.split('\0')
  if (fields.length !== 3) return fail('syntaxError')
  const [authorizationId, username, password] = fields as [string, string, string]
  if (username === '' || password === '') return fail('syntaxError')
  return { kind: 'credentials', credentials: { mechanism: 'PLAIN', username, password, authorizationId } }
}

/** SASL PLAIN: sends the password in the clear, so only offered over TLS unless allowed. */
export const plain: SaslMechanism = Object.freeze({
  name: 'PLAIN',
  plaintext: true,
  exchange: (): SaslExchange => new OneMessageExchange('PLAIN', readMessage),
})
