// TLS glue: turns TLS options into a StreamUpgrade that wraps a connection in tls.TLSSocket as the
// server side, for STARTTLS and for implicit TLS (SMTPS). The protocol core never sees node:tls.

import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { StreamUpgrade } from './attach.js'
import { SmtpwireError } from './errors.js'
import type { TlsInfo } from './session.js'

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
 * @throws SmtpwireError `SMTPWIRE_ERR_TLS` when the options cannot make a secure context.
 */
export function tlsUpgrade(options: TlsOptions, implicit: boolean): StreamUpgrade {
  const { SNICallback, requestCert = false, handshakeTimeout = 30_000, ...contextOptions } = options
  let secureContext: tls.SecureContext
  try {
    secureContext = tls.createSecureContext(contextOptions)
  } catch (error) {
    throw new SmtpwireError('SMTPWIRE_ERR_TLS', `cannot use the TLS options: ${(error as Error).message}`, { cause: error })
  }
  return (stream: Duplex) =>
    new Promise((resolve, reject) => {
      const secure = new tls.TLSSocket(stream, { isServer: true, secureContext, SNICallback, requestCert, rejectUnauthorized: false })
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
