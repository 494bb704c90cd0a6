// The options of SmtpServer and of each of its listeners, and the types its API hands out. Types only.

import type { Duplex } from 'node:stream'
import type { SmtpOptions } from './options.js'
import type { SmtpProtocol } from './protocol.js'
import type { ReverseLookup } from './reverse-dns.js'
import type { SessionFacts } from './session-info.js'
import type { TlsOptions } from './tls.js'

/** Options of an SmtpServer: every SmtpProtocol option, applied to each session, and the server's own. */
export interface SmtpServerOptions extends SmtpOptions {
  /** Key and certificate (and other TLS options): STARTTLS is offered, and secure listeners can start. */
  tls?: TlsOptions
  /**
   * Connections open at once, counted from accept (one still owing its PROXY header or TLS
   * handshake counts); the next client gets `421 4.7.0` and is closed (on an implicit-TLS
   * listener, where no plaintext reply is possible, it is just closed). Default 0 (no limit).
   */
  maxConnections?: number
  /**
   * Connections open at once from one client address, counted the same way: under the socket's
   * address until a PROXY header names the client. Default 0 (no limit).
   */
  maxConnectionsPerAddress?: number
  /** Decisions running listener code at once across all sessions; others wait their turn. Default 0 (no limit). */
  maxProcessing?: number
  /** Look up the client's name (reverse DNS) before the greeting; or a function that does. Default false. */
  reverseDns?: boolean | ReverseLookup
  /**
   * After `close()`, milliseconds before sessions still open are cut off: each gets
   * `421 4.3.2` (where the socket still takes writes) and `lingerTimeout` to go. `close()` waits no
   * longer for listeners that have not settled either. Default 30 000.
   */
  closeTimeout?: number
  /**
   * Milliseconds a client may keep its side open after the server ended the connection (a 421
   * refusal, QUIT, a timeout, shutdown); then the socket is destroyed, so a peer that never closes
   * cannot hold a descriptor. Default 5 000.
   */
  lingerTimeout?: number
  /** Aborting it closes the server, as `close()` does. */
  signal?: AbortSignal
}

/** Options of one listener. */
export interface ListenOptions {
  /** Implicit TLS (SMTPS, the port 465 style): the TLS handshake comes first, then the greeting. Needs `tls`. */
  secure?: boolean
  /** Expect a PROXY protocol v1/v2 header first: the real client address comes from it. */
  proxyProtocol?: boolean
  /** Milliseconds to wait for the PROXY header. Default 10 000. */
  proxyTimeout?: number
  /** Protocol options for sessions on this listener only (e.g. `{ authPolicy: 'required' }` on 587). */
  options?: SmtpOptions
}

/** Called for each new session before its greeting: register listeners on `smtp` here. */
export type SessionHandler = (smtp: SmtpProtocol, socket: Duplex) => void

/**
 * The events an SmtpServer emits (`server.on('connectionError', (error, facts) => …)`). Session
 * events are on each session's SmtpProtocol, given to the SessionHandler.
 */
export interface SmtpServerEvents {
  /**
   * A listening socket failed after `listen()` resolved. Without a listener it becomes a
   * `process.emitWarning`, never an uncaught exception.
   */
  error: [error: Error]
  /**
   * A connection failed before its session began (a bad PROXY header, a failed implicit-TLS
   * handshake) and was closed; `facts` holds what was known of the client.
   */
  connectionError: [error: Error, facts: SessionFacts]
}

/** Where a listener is bound. */
export interface ListenAddress {
  /** The bound IP address, e.g. `127.0.0.1` or `::`. */
  readonly address: string
  /** The bound port: the one chosen by the system when you asked for port 0. */
  readonly port: number
  /** `IPv4` or `IPv6`. */
  readonly family: string
}
