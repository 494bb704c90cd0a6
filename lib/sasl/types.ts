// What a SASL mechanism and one authentication exchange look like to the engine (RFC 4954).
// Types only, so mechanism files and the registry can share them without an import cycle.

import type { ReplyKey } from '../replies.js'

/** Credentials a finished exchange produced, for the application to check. */
export type SaslCredentials =
  | {
      /** RFC 4616 PLAIN. */
      readonly mechanism: 'PLAIN'
      /** The authentication identity the client gave. */
      readonly username: string
      /** The password, in the clear. */
      readonly password: string
      /** The identity to act as; '' when the client sent none (act as `username`). */
      readonly authorizationId: string
    }
  | {
      /** The LOGIN mechanism (two base64 prompts). */
      readonly mechanism: 'LOGIN'
      /** The user name the client gave. */
      readonly username: string
      /** The password, in the clear. */
      readonly password: string
      /** Always '': LOGIN has no way to send one. */
      readonly authorizationId: string
    }
  | {
      /** RFC 2195 CRAM-MD5: the password never crosses the wire; check with `verify`. */
      readonly mechanism: 'CRAM-MD5'
      /** The user name the client gave. */
      readonly username: string
      /** The challenge text the server sent, before base64, e.g. `<1896.697170952@mx.example>`. */
      readonly challenge: string
      /** The client's digest: 32 lowercase hex digits. */
      readonly digest: string
      /** True when `digest` is HMAC-MD5(secret, challenge) in lowercase hex; compares in constant time. */
      verify(secret: string): boolean
    }
  | {
      /** Google's and Microsoft's XOAUTH2: an OAuth 2.0 bearer token. */
      readonly mechanism: 'XOAUTH2'
      /** The `user=` the client gave. */
      readonly username: string
      /** The bearer token, without the `Bearer ` prefix. */
      readonly token: string
    }

/** What the engine does next. */
export type SaslStep =
  /** Send `334 <challenge>` (challenge already base64, may be '') and pass the client's next line to `respond`. */
  | { readonly kind: 'challenge'; readonly challenge: string }
  /** The exchange is complete: ask the application about these credentials. */
  | { readonly kind: 'credentials'; readonly credentials: SaslCredentials }
  /** The exchange failed: send this catalogue reply (e.g. 'badBase64', 'authCancelled', 'syntaxError'). */
  | { readonly kind: 'fail'; readonly reply: ReplyKey }

/**
 * One authentication exchange, from the AUTH command to credentials. Call `start` once, then
 * `respond` once per `challenge` step; both throw when called out of that order (an engine bug).
 */
export interface SaslExchange {
  /**
   * Starts with the AUTH command's initial response (the text after the mechanism name, still
   * base64, or null when absent; '=' means an empty initial response per RFC 4954 §4).
   */
  start(initialResponse: string | null): SaslStep
  /**
   * The client's next line (base64, CRLF removed). A line of exactly '*' cancels (RFC 4954 §4)
   * → fail 'authCancelled'.
   */
  respond(line: string): SaslStep
}

/** A SASL mechanism the server can offer. */
export interface SaslMechanism {
  readonly name: 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2'
  /**
   * True when the mechanism sends a reusable secret in the clear, so it must not be offered before
   * TLS unless allowed (PLAIN, LOGIN).
   */
  readonly plaintext: boolean
  /** A new exchange; `domain` is the server name (CRAM-MD5 puts it in the challenge). */
  exchange(domain: string): SaslExchange
}
