// The exchange shared by client-first mechanisms that send one message (PLAIN, XOAUTH2): the
// message comes as the AUTH initial response, or after one empty challenge.

import { decodeInitialResponse, decodeResponse, type SaslFailure } from './base64.js'
import type { SaslExchange, SaslStep } from './types.js'

/** Turns the decoded message (or a decoding failure) into the exchange's result. */
export type MessageReader = (text: string | SaslFailure) => SaslStep

/** One exchange of a one-message mechanism: at most one (empty) challenge, then the result. */
export class OneMessageExchange implements SaslExchange {
  private stage: 'start' | 'message' | 'done' = 'start'

  constructor(
    private readonly name: string,
    private readonly readMessage: MessageReader,
  ) {}

  start(initialResponse: string | null): SaslStep {
    if (this.stage !== 'start') throw new Error(`${this.name} exchange already started`)
    if (initialResponse === null) {
      // RFC 4954 §4: the mechanism is client-first, so without an initial response the server
      // sends an empty challenge and the message comes in the next line.
      this.stage = 'message'
      return { kind: 'challenge', challenge: '' }
    }
    this.stage = 'done'
    return this.readMessage(decodeInitialResponse(initialResponse))
  }

  respond(line: string): SaslStep {
    if (this.stage !== 'message') throw new Error(`${this.name} exchange is not waiting for a response`)
    this.stage = 'done'
    return this.readMessage(decodeResponse(line))
  }
}
