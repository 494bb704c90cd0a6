// The JetStream consumer (`npm run deliver:jetstream`): a durable pull consumer that writes each
// record into a Maildir (fetching object-store bodies) and acks it only once the file is in new/.
// With the front end's 250-after-publish-ack, the path from SMTP client to disk is at-least-once:
// a crash between the rename and the ack delivers that message again, never loses it.

import { setTimeout as pause } from 'node:timers/promises'
import { AckPolicy, type JsMsg } from '@nats-io/jetstream'
import type { ObjectStore } from '@nats-io/obj'
import { openBroker } from './jetstream-broker.js'
import { readConsumerFlags } from './jetstream-flags.js'
import { BODY_OBJECT, parseBodyObject } from './jetstream-record.js'
import { Maildir, type Delivery } from './maildir.js'

// Broker long-poll per pull: an idle consumer asks again this often.
const PULL_EXPIRES_MS = 2000
// After a failed request (a cluster electing a new leader answers nothing for a few seconds).
const RETRY_PAUSE_MS = 500

/** Streams an object store entry into the file being written. @throws Error when it is missing or broken. */
async function copyObject(store: ObjectStore, name: string, delivery: Delivery): Promise<void> {
  const result = await store.get(name)
  if (!result) throw new Error(`object ${name} is missing`)
  const reader = result.data.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) await delivery.write(Buffer.from(read.value))
  const failure = await result.error
  if (failure) throw failure
}

async function main(): Promise<void> {
  const config = readConsumerFlags(process.argv.slice(2))
  if (config.help !== null) return void process.stdout.write(config.help)
  const log = config.logger
  const broker = await openBroker(config, `smtpwire maildir consumer pid ${process.pid}`, null)
  const maildir = new Maildir(config.maildir, config.fsync)
  await maildir.create()
  const retrying = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await action()
      } catch (error) {
        // A node lost or a leader being elected is temporary: the records wait in the stream.
        log.warn(`${what} failed, trying again: ${error instanceof Error ? error.message : String(error)}`)
        await pause(RETRY_PAUSE_MS)
      }
    }
  }
  // Explicit acks: a record stays pending until this process says its file is in new/.
  const consumer = await retrying('creating the durable consumer', async () => {
    await broker.manager.consumers.add(config.stream, { durable_name: config.durable, ack_policy: AckPolicy.Explicit })
    return broker.jetstream.consumers.get(config.stream, config.durable)
  })

  // Never rejects: a record that could not be written is nak'd and offered again.
  const deliver = async (record: JsMsg): Promise<void> => {
    const reference = record.headers?.get(BODY_OBJECT) ?? ''
    let delivery: Delivery | null = null
    let path: string
    try {
      delivery = await maildir.begin()
      if (reference === '') {
        await delivery.write(Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength))
      } else {
        const { bucket, name } = parseBodyObject(reference)
        if (bucket !== config.bucket) throw new Error(`${BODY_OBJECT} names bucket ${bucket}, this consumer reads ${config.bucket}`)
        await copyObject(broker.bodies, name, delivery)
      }
      path = await delivery.commit()
    } catch (error) {
      await delivery?.abort()
      // Not acknowledged: JetStream offers it again (to this or another consumer process).
      record.nak()
      log.error(`record #${record.seq} not delivered: ${error instanceof Error ? error.message : String(error)}`)
      return
    }
    // ackAck waits for the broker's confirmation; an ack lost on the way means one duplicate file.
    const acked = await record.ackAck().catch(() => false)
    log.info(`record #${record.seq} stored ${path}${acked ? '' : ' (ack not confirmed: it may be delivered again)'}`)
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) process.exit(1)
    stopping = true
    log.info(`${signal}: finishing the record in hand, then exiting`)
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  process.stdout.write(`smtpwire consumer ${config.durable} on ${config.stream} delivering into ${config.maildir}\n`)
  while (!stopping) {
    if (config.untilEmpty) {
      // Nothing waiting and nothing delivered but unacknowledged: every record is in the Maildir.
      const info = await retrying('reading the consumer state', () => consumer.info())
      if (info.num_pending === 0 && info.num_ack_pending === 0) break
    }
    await retrying('pulling records', async () => {
      const records = await consumer.fetch({ max_messages: config.batch, expires: PULL_EXPIRES_MS })
      // Up to --parallel records are written at once; each is acked only once its own file is in new/.
      const inFlight = new Set<Promise<void>>()
      for await (const record of records) {
        const task: Promise<void> = deliver(record).finally(() => inFlight.delete(task))
        inFlight.add(task)
        if (inFlight.size >= config.parallel) await Promise.race(inFlight)
        if (stopping) break
      }
      await Promise.all(inFlight)
    })
  }
  log.info('no more records: exiting')
  await broker.connection.drain()
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
