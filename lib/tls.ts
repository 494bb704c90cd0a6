// TLS glue: turns TLS options into a StreamUpgrade that wraps a connection in tls.TLSSocket as the
// server side, for STARTTLS and for implicit TLS (SMTPS). The protocol core never sees node:tls.

import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { StreamUpgrade } from './attach.js'
import { tlsHandshakeChannel } from './diagnostics.js'
import { SmtpwireError } from './errors.js'
import { checkTimeout } from './options.js'
import type { SessionFacts, TlsInfo } from './session-info.js'

/**
 * The buffer of every stream SmtpServer makes (accepted sockets, implicit-TLS and STARTTLS
 * sockets), each way: how much unread input waits in Node while a session is paused. Set, not
 * left to Node's default, which is 16 KiB on Node 20 and 64 KiB from Node 22 on.
 */
export const STREAM_BUFFER_OCTETS = 64 * 1024

/** TLS settings for SmtpServer: a key and certificate (or SNI callback), and Node's other TLS options. */
export interface TlsOptions extends tls.SecureContextOptions {
  /** Picks a secure context by server name (SNI). */
  SNICallback?: tls.TLSSocketOptions['SNICallback']
  /** Ask clients for a certificate. Default false. */
  requestCert?: boolean
  /** Milliseconds a client may take to finish the handshake. Default 30 000. */
  handshakeTimeout?: number
}

/** What a TLS socket negotiated, as the session reports it. */
export function tlsInfoOf(socket: tls.TLSSocket, implicit: boolean): TlsInfo {
  const servername = (socket as tls.TLSSocket & { servername?: string | false }).servername
  return {
    protocol: socket.getProtocol() ?? null,
    cipher: socket.getCipher()?.name ?? null,
    servername: typeof servername === 'string' ? servername : null,
    implicit,
  }
}

/**
 * A function that runs the server side of a TLS handshake over a stream and resolves with the
 * encrypted stream; it rejects (and destroys the stream) when the handshake fails or times out.
 * @throws SmtpwireError `SMTPWIRE_ERR_TLS` when the options cannot make a secure context;
 * `SMTPWIRE_ERR_INVALID_OPTION` for a `handshakeTimeout` no timer can wait.
 */
export function tlsUpgrade(options: TlsOptions, implicit: boolean): StreamUpgrade {
  const { SNICallback, requestCert = false, handshakeTimeout = 30_000, ...contextOptions } = options
  checkTimeout('handshakeTimeout', handshakeTimeout, 1)
  let secureContext: tls.SecureContext
  try {
    secureContext = tls.createSecureContext(contextOptions)
  } catch (error) {
    throw new SmtpwireError('SMTPWIRE_ERR_TLS', `cannot use the TLS options: ${(error as Error).message}`, { cause: error })
  }
  // TLSSocket passes highWaterMark on to its stream (Node 20 too); @types/node does not list it.
  const socketOptions: tls.TLSSocketOptions & { highWaterMark: number } = {
    isServer: true,
    secureContext,
    SNICallback,
    requestCert,
    rejectUnauthorized: false,
    highWaterMark: STREAM_BUFFER_OCTETS,
  }
  return (stream: Duplex) =>
    new Promise((resolve, reject) => {
      const secure = new tls.TLSSocket(stream, socketOptions)
      const fail = (error: Error): void => {
        clearTimeout(timer)
        stream.off('end', onEnd)
        secure.destroy()
        stream.destroy()
        reject(error)
      }
      const timer = setTimeout(() => fail(new SmtpwireError('SMTPWIRE_ERR_TLS', 'TLS handshake timed out')), handshakeTimeout)
      const onError = (error: Error): void => fail(new SmtpwireError('SMTPWIRE_ERR_TLS', `TLS handshake failed: ${error.message}`, { cause: error }))
      const onClose = (): void => fail(new SmtpwireError('SMTPWIRE_ERR_TLS', 'connection closed during the TLS handshake'))
      // A half-open socket whose client left mid-handshake would otherwise wait out handshakeTimeout.
      const onEnd = (): void => fail(new SmtpwireError('SMTPWIRE_ERR_TLS', 'client ended the connection during the TLS handshake'))
      secure.once('error', onError)
      secure.once('close', onClose)
      stream.once('end', onEnd)
      secure.once('end', onEnd)
      secure.once('secure', () => {
        clearTimeout(timer)
        secure.off('error', onError)
        secure.off('close', onClose)
        stream.off('end', onEnd)
        secure.off('end', onEnd)
        guard(secure, stream)
        resolve({ stream: secure, tls: tlsInfoOf(secure, implicit) })
      })
    })
}

/**
 * Runs an implicit-TLS handshake with `upgrade`, and tells `smtpwire:tls:handshake` subscribers how
 * it went (STARTTLS handshakes are told by the session, which knows itself).
 */
export function implicitHandshake(upgrade: StreamUpgrade, stream: Duplex, facts: SessionFacts): ReturnType<StreamUpgrade> {
  return tlsHandshakeChannel.hasSubscribers ? observedHandshake(upgrade, stream, facts) : upgrade(stream)
}

async function observedHandshake(upgrade: StreamUpgrade, stream: Duplex, facts: SessionFacts): ReturnType<StreamUpgrade> {
  const start = performance.now()
  const from = { session: null, remoteAddress: facts.remoteAddress ?? '', remotePort: facts.remotePort ?? 0, implicit: true }
  try {
    const secure = await upgrade(stream)
    tlsHandshakeChannel.publish({ ...from, tls: secure.tls, error: null, duration: performance.now() - start })
    return secure
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error))
    tlsHandshakeChannel.publish({ ...from, tls: null, error: failure, duration: performance.now() - start })
    throw error
  }
}

/** The part of TLSSocket that `tls.Server` uses on its sockets and we need on ours. */
interface ServerSideSocket {
  _releaseControl?: () => boolean
}

/**
 * What `tls.Server` does for its own sockets once they are secure, done for our standalone one:
 * refuse client renegotiation (TLS 1.2; each one costs the server a handshake), and let TLS errors
 * after the handshake (a renegotiation attempt, non-TLS bytes) reach `error`. Until control is
 * released a standalone TLSSocket swallows them, so the connection stayed open. A TLS layer that
 * failed carries nothing more: both it and the connection under it are closed at once.
 */
function guard(secure: tls.TLSSocket, stream: Duplex): void {
  secure.disableRenegotiation()
  ;(secure as tls.TLSSocket & ServerSideSocket)._releaseControl?.()
  secure.on('error', () => {
    secure.destroy()
    stream.destroy()
  })
}
