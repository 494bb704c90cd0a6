// Streams each accepted message of a session into a Maildir: the file is written as the data
// arrives and committed (fsync, rename into new/) before the 250. Shared by every sample server.

import { formatReceivedHeader, type SessionInfo, type SmtpProtocol, type TransactionInfo } from '../lib/index.js'
import type { Delivery, Maildir } from './maildir.js'

/** A message on disk in `<maildir>/new`, acknowledged or about to be. */
export interface DeliveredMessage {
  readonly path: string
  readonly session: SessionInfo
  readonly transaction: TransactionInfo
}

/** What `deliverToMaildir` needs besides the session and the Maildir. */
export interface DeliveryOptions {
  /** Server name for the Received header. */
  readonly domain: string
  /** Told about each message once it is in new/. */
  readonly onDelivered?: (message: DeliveredMessage) => void
  /** Told when an unfinished message is removed from tmp/. */
  readonly onDiscarded?: (session: SessionInfo, reason: string) => void
}

/**
 * The trace headers the Maildir sample prepends to a message (`Return-Path:` then `Received:`,
 * CRLF-terminated). Every sample that stores or hands off a message uses this, so the bytes it
 * keeps are exactly those the Maildir sample would have written.
 */
export function traceHeaders(session: SessionInfo, transaction: TransactionInfo, domain: string): string {
  return `Return-Path: <${transaction.from?.address ?? ''}>\r\n` + formatReceivedHeader(session, transaction, domain)
}

/**
 * Registers the listeners that deliver `smtp`'s messages into `maildir`. Every listener returns
 * its Promise, so the session reads on only once the disk has the bytes, and `smtp.settled()`
 * covers cleanup still running after the session ended.
 */
export function deliverToMaildir(smtp: SmtpProtocol, maildir: Maildir, options: DeliveryOptions): void {
  let delivery: Delivery | null = null
  smtp.on('data', async ({ session, transaction }) => {
    const started = await maildir.begin()
    // The client may have left while the file was created: the transaction's end came and went.
    if (transaction.signal.aborted) return void (await started.abort())
    delivery = started
    // Trace headers only: the rest of the file is the message exactly as received.
    await started.write(traceHeaders(session, transaction, options.domain))
  })
  smtp.on('dataChunk', async ({ chunk }) => {
    await delivery?.write(chunk)
  })
  smtp.on('message', async ({ session, transaction }) => {
    if (!delivery) throw new Error('no message file was started for this transaction')
    // Cleared only once committed: if the commit fails, the `transaction` listener removes the file.
    const path = await delivery.commit()
    delivery = null
    options.onDelivered?.({ path, session, transaction })
  })
  smtp.on('transaction', async ({ session, reason }) => {
    // Whatever ended the transaction, a message still in tmp/ was not delivered.
    const unfinished = delivery
    delivery = null
    if (!unfinished) return
    await unfinished.abort()
    options.onDiscarded?.(session, reason)
  })
}
