// Hands each accepted message of a session to NATS JetStream before its 250: the bytes the Maildir
// sample would store are collected as they arrive (in memory up to what fits in one NATS message,
// then streamed into an object store bucket) and published with the transaction id as Nats-Msg-Id.
// The 250 waits for JetStream's publish acknowledgement; no acknowledgement in time is a 451 4.3.0.

import { setTimeout as pause } from 'node:timers/promises'
import type { JetStreamClient, PubAck } from '@nats-io/jetstream'
import type { ObjectInfo, ObjectStore } from '@nats-io/obj'
import { headers, type MsgHdrs } from '@nats-io/transport-node'
import { SmtpError, type SessionInfo, type SmtpProtocol, type TransactionInfo } from '../lib/index.js'
import { BODY_OBJECT, CLIENT_ADDRESS, MAIL_FROM, RCPT_TO } from './jetstream-record.js'
import { traceHeaders } from './maildir-delivery.js'

/** What `handOffToJetStream` publishes to, and how long it may try. */
export interface HandOffOptions {
  /** Server name for the Received header. */
  readonly domain: string
  readonly jetstream: JetStreamClient
  /** Subject the stream listens on. */
  readonly subject: string
  /** The object store bucket for messages too big for one NATS message, and its name. */
  readonly bodies: ObjectStore
  readonly bucket: string
  /** The broker's max_payload (from its INFO): record headers plus payload must fit in it. */
  readonly maxPayload: number
  /** Milliseconds one message's hand-off may take, retries included, before the 451. */
  readonly timeoutMs: number
  /** Told about each message JetStream acknowledged (before the 250 goes out). */
  readonly onPublished?: (message: PublishedMessage) => void
  /** Told about each hand-off that failed (the client gets 451 4.3.0). */
  readonly onFailed?: (session: SessionInfo, error: unknown) => void
  /** Told about each publish attempt that got no ack in time, before it is tried again. */
  readonly onRetry?: (session: SessionInfo, attempt: number, error: unknown) => void
}

/** A message JetStream has acknowledged. */
export interface PublishedMessage {
  readonly session: SessionInfo
  readonly transaction: TransactionInfo
  readonly ack: PubAck
  /** The object store entry that holds the bytes, or null when they are the record's payload. */
  readonly object: ObjectInfo | null
}

/** The reply when the broker did not acknowledge: the client keeps the message and retries. */
export const HAND_OFF_FAILED = (): SmtpError => new SmtpError(451, 'Could not hand the message to the queue, try again later', '4.3.0')

// One attempt may not take the whole budget: a broker that lost its leader answers the next one.
const ATTEMPT_MS = 2000
const RETRY_PAUSE_MS = 100
// Headroom for the NATS header framing (`NATS/1.0`, the Nats-Msg-Id line) beyond the headers we count.
const HEADER_SLACK = 256
// Bytes queued for the object store before the session stops reading more from the client.
const UPLOAD_HIGH_WATER = 1024 * 1024

/** The record's headers (Nats-Msg-Id is added by the publish call) and their size on the wire. */
function recordHeaders(session: SessionInfo, transaction: TransactionInfo): { headers: MsgHdrs; size: number } {
  const fields: Array<[string, string]> = [
    [MAIL_FROM, `<${transaction.from?.address ?? ''}>`],
    ...transaction.to.map((rcpt): [string, string] => [RCPT_TO, `<${rcpt.address.address}>`]),
    [CLIENT_ADDRESS, session.remoteAddress],
  ]
  const built = headers()
  let size = HEADER_SLACK + transaction.id.length
  for (const [name, value] of fields) {
    built.append(name, value)
    size += Buffer.byteLength(`${name}: ${value}\r\n`)
  }
  return { headers: built, size }
}

/** A message body streamed into the object store while it arrives, with backpressure. */
class Upload {
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null
  private wanted: (() => void) | null = null
  readonly done: Promise<ObjectInfo>

  constructor(bodies: ObjectStore, name: string, timeoutMs: number) {
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.controller = controller),
        pull: () => {
          const wake = this.wanted
          this.wanted = null
          wake?.()
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: UPLOAD_HIGH_WATER }),
    )
    this.done = bodies.put({ name }, stream, { timeout: timeoutMs })
    // Observed when the message ends (or the transaction is dropped); never an unhandled rejection.
    this.done.catch(() => undefined)
  }

  /** Queues bytes; resolves once the store wants more (or rejects once the upload failed). */
  async write(chunk: Uint8Array): Promise<void> {
    this.controller?.enqueue(chunk)
    if ((this.controller?.desiredSize ?? 1) > 0) return
    await Promise.race([new Promise<void>((resolve) => (this.wanted = resolve)), this.done])
  }

  /** The last byte is queued: resolves with the stored object once the store has it all. */
  finish(): Promise<ObjectInfo> {
    this.controller?.close()
    return this.done
  }

  /** Drops the upload; the object store removes what it had stored of it. */
  async abandon(reason: string): Promise<void> {
    try {
      this.controller?.error(new Error(reason))
    } catch {
      // Already closed by finish(): that upload completes or fails on its own.
    }
    await this.done.catch(() => undefined)
  }
}

/** One message being collected: inline bytes until they outgrow one NATS message, then an upload. */
interface Collecting {
  readonly headers: MsgHdrs
  readonly inlineLimit: number
  chunks: Buffer[]
  size: number
  upload: Upload | null
}

/** The first attempt found its Nats-Msg-Id taken: another message used it, and this one was not stored. */
class IdTakenError extends Error {}

/**
 * Publishes `payload` with `msgId` until JetStream acknowledges it or `deadline` passes. Every
 * attempt carries the same Nats-Msg-Id, so one that was stored but whose ack was lost is stored once.
 * @throws the last failure once the deadline passed, or at once when the first attempt was a
 * duplicate (another transaction used this id: acknowledging would lose this message).
 */
async function publishUntilAcked(
  options: HandOffOptions,
  payload: Uint8Array,
  msgId: string,
  recordHeaders: MsgHdrs,
  onRetry: (attempt: number, error: unknown) => void,
): Promise<PubAck> {
  const deadline = Date.now() + options.timeoutMs
  for (let attempt = 1; ; attempt++) {
    const left = deadline - Date.now()
    try {
      const ack = await options.jetstream.publish(options.subject, payload, {
        msgID: msgId,
        headers: recordHeaders,
        timeout: Math.max(1, Math.min(left, ATTEMPT_MS)),
      })
      if (ack.duplicate && attempt === 1) throw new IdTakenError(`Nats-Msg-Id ${msgId} was already used by another message`)
      return ack
    } catch (error) {
      if (error instanceof IdTakenError) throw error
      if (Date.now() + RETRY_PAUSE_MS >= deadline) throw error
      onRetry(attempt, error)
      await pause(RETRY_PAUSE_MS)
    }
  }
}

/**
 * Registers the listeners that hand `smtp`'s messages to JetStream. The `message` listener
 * resolves only after JetStream's acknowledgement, so the 250 means the stream has the message
 * (on a quorum of replicas); any failure becomes `451 4.3.0` and nothing is acknowledged.
 */
export function handOffToJetStream(smtp: SmtpProtocol, options: HandOffOptions): void {
  let current: Collecting | null = null
  smtp.on('data', ({ session, transaction }) => {
    const record = recordHeaders(session, transaction)
    current = {
      headers: record.headers,
      inlineLimit: Math.max(0, options.maxPayload - record.size),
      chunks: [Buffer.from(traceHeaders(session, transaction, options.domain))],
      size: 0,
      upload: null,
    }
    current.size = current.chunks[0]?.length ?? 0
  })
  smtp.on('dataChunk', async ({ chunk, transaction }) => {
    const message = current
    if (!message) return
    message.size += chunk.length
    if (message.upload) return message.upload.write(chunk)
    message.chunks.push(chunk)
    if (message.size <= message.inlineLimit) return
    // Too big for one NATS message: what was collected so far goes first, the rest follows as it comes.
    message.upload = new Upload(options.bodies, transaction.id, options.timeoutMs)
    const collected = Buffer.concat(message.chunks)
    message.chunks = []
    await message.upload.write(collected)
  })
  smtp.on('message', async ({ session, transaction }) => {
    const message = current
    if (!message) throw new Error('no message was collected for this transaction')
    let object: ObjectInfo | null = null
    try {
      let payload: Uint8Array = Buffer.concat(message.chunks)
      if (message.upload) {
        object = await message.upload.finish()
        message.headers.set(BODY_OBJECT, `${options.bucket}/${object.name}`)
        payload = new Uint8Array(0)
      }
      const ack = await publishUntilAcked(options, payload, transaction.id, message.headers, (attempt, error) =>
        options.onRetry?.(session, attempt, error),
      )
      current = null
      options.onPublished?.({ session, transaction, ack, object })
    } catch (error) {
      current = null
      // The record never made it: the stored body would be an orphan.
      if (object) await options.bodies.delete(object.name).catch(() => undefined)
      options.onFailed?.(session, error)
      throw HAND_OFF_FAILED()
    }
  })
  smtp.on('transaction', async ({ reason }) => {
    // Whatever ended the transaction, a message still being collected was not acknowledged.
    const unfinished = current
    current = null
    await unfinished?.upload?.abandon(`transaction ended: ${reason}`)
  })
}
