// The SASL side of AUTH (RFC 4954): what a mechanism and one exchange look like to the engine, and
// the registry of built-in mechanisms. Mechanisms turn lines into challenges and credentials, no I/O.

import { cramMd5 } from './cram-md5.js'
import { login } from './login.js'
import { plain } from './plain.js'
import { xoauth2 } from './xoauth2.js'

import type { SaslMechanism } from './types.js'

export { decodeBase64 } from './base64.js'
export type { SaslCredentials, SaslExchange, SaslMechanism, SaslStep } from './types.js'

/**
 * The built-in mechanisms by upper-case name. SASL mechanism names are case-insensitive
 * (RFC 4954 §4), so upper-case the AUTH command's mechanism before looking it up.
 */
export const MECHANISMS: ReadonlyMap<string, SaslMechanism> = new Map(
  [plain, login, cramMd5, xoauth2].map((mechanism) => [mechanism.name, mechanism]),
)
