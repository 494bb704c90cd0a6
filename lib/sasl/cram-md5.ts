// SASL CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client answers with its
// username and HMAC-MD5(secret, challenge). The secret never crosses the wire.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { decodeResponse, fail, type SaslFailure } from './base64.js'
import type { SaslExchange, SaslMechanism, SaslStep } from './types.js'

/** The digest: HMAC-MD5 as 32 lowercase hex digits (RFC 2195 §2). */
const DIGEST = /^[0-9a-f]{32}$/

/** Reads the client's response `username SP digest` to `challenge`, or passes a decoding failure on. */
function readResponse(challenge: string, text: string | SaslFailure): SaslStep {
  if (typeof text !== 'string') return text
  // Split at the last space: the digest has none, a username might.
  const space = text.lastIndexOf(' ')
  const username = text.slice(0, space)
  const digest = text.slice(space + 1)
  if (space <= 0 || !DIGEST.test(digest)) return fail('syntaxError')
  return {
    kind: 'credentials',
    credentials: {
      mechanism: 'CRAM-MD5',
      username,
      challenge,
      digest,
      verify: (secret: string): boolean => {
        const expected = createHmac('md5', secret).update(challenge, 'utf8').digest()
        // Both are 16 octets: the digest was checked to be 32 hex digits.
        return timingSafeEqual(expected, Buffer.from(digest, 'hex'))
      },
    },
  }
}

/** One CRAM-MD5 exchange: the challenge, then credentials. */
class CramMd5Exchange implements SaslExchange {
  private stage: 'start' | 'response' | 'done' = 'start'

  constructor(private readonly challenge: string) {}

  start(initialResponse: string | null): SaslStep {
    if (this.stage !== 'start') throw new Error('CRAM-MD5 exchange already started')
    if (initialResponse !== null) {
      // RFC 4954 §4: a client must not send an initial response for a server-first mechanism,
      // and '=' is one too (the empty one).
      this.stage = 'done'
      return fail('syntaxError')
    }
    this.stage = 'response'
    return { kind: 'challenge', challenge: Buffer.from(this.challenge, 'utf8').toString('base64') }
  }

  respond(line: string): SaslStep {
    if (this.stage !== 'response') throw new Error('CRAM-MD5 exchange is not waiting for a response')
    this.stage = 'done'
    return readResponse(this.challenge, decodeResponse(line))
  }
}

/**
 * A CRAM-MD5 exchange with a given challenge text (before base64), such as
 * `<1896.697170952@postoffice.reston.mci.net>`. `cramMd5.exchange()` makes a unique one.
 */
export function cramMd5Exchange(challenge: string): SaslExchange {
  return new CramMd5Exchange(challenge)
}

/** CRAM-MD5: the secret stays on the client, so it may be offered before TLS. */
export const cramMd5: SaslMechanism = Object.freeze({
  name: 'CRAM-MD5',
  plaintext: false,
  exchange: (domain: string): SaslExchange => {
    // RFC 2195 §2: the challenge must be unique, in the form of an RFC 822 msg-id; 128 random bits
    // replace the RFC's example of a process id and a timestamp (no counter: this file keeps no state).
    const random = randomBytes(16)
    return cramMd5Exchange(`<${random.readBigUInt64BE(0)}.${random.readBigUInt64BE(8)}@${domain}>`)
  },
})
