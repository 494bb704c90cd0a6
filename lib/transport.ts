// The contract between the protocol and whatever carries its bytes. Types only.

import type { TlsInfo } from './session-info.js'

/** What the protocol needs from a connection: somewhere to write, and a way to end it. */
export interface SmtpTransport {
  /**
   * Writes reply bytes. Return false when the peer is not reading them: the protocol stops reading
   * input until `SmtpProtocol.drained()` is called.
   */
  write(chunk: Buffer): boolean
  /**
   * Writes several replies at once (a pipelined batch), like `write` for each in order. Optional:
   * without it the protocol joins them into one Buffer for `write`.
   */
  writev?(chunks: readonly Buffer[]): boolean
  /** Ends the connection once written bytes are flushed. */
  end(): void
  /** Stop delivering input until `resume()`: the protocol is waiting for a listener or for output. */
  pause?(): void
  /** Deliver input again after `pause()`. */
  resume?(): void
  /**
   * Starts TLS on this connection (STARTTLS): resolves once the handshake is done, rejects when it
   * failed. Without it, STARTTLS is not offered. The protocol writes `220 2.0.0 Ready to start TLS`
   * and stops feeding plaintext before calling it; input fed afterwards must be decrypted bytes.
   */
  upgrade?(): Promise<TlsInfo>
}
