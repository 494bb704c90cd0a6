// SASL LOGIN (draft-murchison-sasl-login): the server asks for the username, then the password,
// each a base64 line. `AUTH LOGIN <base64 username>` answers the first question up front.

import { decodeInitialResponse, decodeResponse, fail, type SaslFailure } from './base64.js'
import type { SaslExchange, SaslMechanism, SaslStep } from './types.js'

/** base64('Username:'), the first challenge. */
const USERNAME_CHALLENGE = 'VXNlcm5hbWU6'
/** base64('Password:'), the second challenge. */
const PASSWORD_CHALLENGE = 'UGFzc3dvcmQ6'

/** One LOGIN exchange: username, then password, then credentials. */
class LoginExchange implements SaslExchange {
  private stage: 'start' | 'username' | 'password' | 'done' = 'start'
  private username = ''

  start(initialResponse: string | null): SaslStep {
    if (this.stage !== 'start') throw new Error('LOGIN exchange already started')
    if (initialResponse === null) {
      this.stage = 'username'
      return { kind: 'challenge', challenge: USERNAME_CHALLENGE }
    }
    this.stage = 'done'
    return this.readUsername(decodeInitialResponse(initialResponse))
  }

  respond(line: string): SaslStep {
    const stage = this.stage
    if (stage !== 'username' && stage !== 'password') throw new Error('LOGIN exchange is not waiting for a response')
    this.stage = 'done'
    const text = decodeResponse(line)
    return stage === 'username' ? this.readUsername(text) : readPassword(this.username, text)
  }

  private readUsername(text: string | SaslFailure): SaslStep {
    if (typeof text !== 'string') return text
    if (text === '') return fail('syntaxError')
    this.username = text
    this.stage = 'password'
    return { kind: 'challenge', challenge: PASSWORD_CHALLENGE }
  }
}

/** The password line, or a decoding failure, ends the exchange. */
function readPassword(username: string, text: string | SaslFailure): SaslStep {
  if (typeof text !== 'string') return text
  // The draft says nothing about an empty password; it is refused, as PLAIN's 1*SAFE refuses it
  // (RFC 4616 §2), so no application can mistake it for a login: an LDAP simple bind with an empty
  // password, for one, is an unauthenticated bind that succeeds (RFC 4513 §5.1.2).
  if (text === '') return fail('syntaxError')
  return { kind: 'credentials', credentials: { mechanism: 'LOGIN', username, password: text, authorizationId: '' } }
}

/** SASL LOGIN: sends the password in the clear, so only offered over TLS unless allowed. */
export const login: SaslMechanism = Object.freeze({
  name: 'LOGIN',
  plaintext: true,
  exchange: (): SaslExchange => new LoginExchange(),
})
