// Decoding what a SASL client sends: strict base64 to UTF-8 text, and the RFC 4954 §4 rules every
// mechanism shares for the AUTH initial response and for response lines ('=' empty, '*' cancel).

import type { ReplyKey } from '../replies.js'
import type { SaslStep } from './types.js'

/** A step that ends an exchange in failure. */
export type SaslFailure = Extract<SaslStep, { kind: 'fail' }>

// ignoreBOM keeps a leading U+FEFF in the text: credentials are exactly what the bytes say.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Strict base64 decode to UTF-8 text: null when the input is not canonical base64 (bad characters,
 * bad padding, wrong length, nonzero bits after the last octet) or not valid UTF-8. '' decodes to ''.
 */
export function decodeBase64(text: string): string | null {
  // Buffer's decoder skips what it does not understand, so the input is canonical exactly when
  // encoding the decoded octets gives it back. That one test rejects characters outside
  // A-Z a-z 0-9 + /, whitespace, base64url, a length that is not a multiple of 4, '=' anywhere
  // but the last one or two places, and nonzero trailing bits (RFC 4648 §3.5 lets a decoder
  // reject them; we do, so each octet string has one spelling).
  const octets = Buffer.from(text, 'base64')
  if (octets.toString('base64') !== text) return null
  try {
    return utf8.decode(octets)
  } catch {
    return null
  }
}

/** Creates a step that ends the exchange with the catalogue reply `reply`. */
export function fail(reply: ReplyKey): SaslFailure {
  return { kind: 'fail', reply }
}

/** The AUTH command's initial response as text, or the failure it means ('=' is the empty response). */
export function decodeInitialResponse(response: string): string | SaslFailure {
  // RFC 4954 §4: a zero-length initial response is sent as a single '='.
  if (response === '=') return ''
  return decodeBase64(response) ?? fail('badBase64')
}

/** A client response line (CRLF removed) as text, or the failure it means ('*' cancels). */
export function decodeResponse(line: string): string | SaslFailure {
  // RFC 4954 §4: a line of a single '*' cancels the exchange; the server answers 501.
  if (line === '*') return fail('authCancelled')
  return decodeBase64(line) ?? fail('badBase64')
}
