// The contract between the protocol and whatever carries its bytes. Types only.

/** What the protocol needs from a connection: somewhere to write, and a way to end it. */
export interface SmtpTransport {
  /**
   * Writes reply bytes. Return false when the peer is not reading them: the protocol stops reading
   * input until `SmtpProtocol.drained()` is called.
   */
  write(chunk: Buffer): boolean
  /** Ends the connection once written bytes are flushed. */
  end(): void
  /** Stop delivering input until `resume()`: the protocol is waiting for a listener or for output. */
  pause?(): void
  resume?(): void
}
